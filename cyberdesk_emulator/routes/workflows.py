"""``/v1/workflows`` routes; a workflow's simulated behaviour may ride in its prompt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_workflow
from cyberdesk_emulator.behaviors import Behavior, behavior_from_prompt
from cyberdesk_emulator.responses import (
    WorkflowOut,
    WorkflowPage,
)
from cyberdesk_emulator.runtime import Emulator
from cyberdesk_emulator.schemas import (
    WorkflowCreate,
    WorkflowUpdate,
)
from cyberdesk_emulator.state import Organization, Workflow, new_id, utcnow
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import iso, workflow_wire

from .common import (
    API_ERRORS,
    IdempotencyKey,
    Limit,
    Skip,
    in_range,
    include_names,
    json_response,
    no_content,
    utc,
)

router = APIRouter(
    prefix="/v1/workflows", tags=["workflows"], responses=API_ERRORS, route_class=StrictJSONRoute
)

_FIELDS = (
    "name",
    "input_schema",
    "output_schema",
    "includes_file_exports",
    "is_webhooks_enabled",
    "terminal_command_allowlist",
    "model_metadata",
    "post_run_check_failure_cleanup_prompt",
    "workflow_metadata",
    "post_run_checks",
)


class DuplicateBody(BaseModel):
    """Body of ``POST /v1/workflows/{id}/duplicate``."""

    include_trajectories: bool = False


class MergeBody(BaseModel):
    """Body of ``POST /v1/workflows/{id}/merge``."""

    target_workflow_id: UUID
    copy_trajectories: bool = False


def prompt_behavior(main_prompt: str) -> Behavior | None:
    """Behaviour embedded in a prompt, as a 422 when the block is malformed."""
    try:
        return behavior_from_prompt(main_prompt)
    except (ValueError, ValidationError) as exc:
        raise RequestValidationError(
            [{"loc": ["body", "main_prompt"], "msg": str(exc), "type": "value_error"}]
        ) from exc


def add_workflow(
    emu: Emulator, org: Organization, fields: dict[str, Any], behavior: Behavior | None = None
) -> Workflow:
    """Create a workflow record (used by the route, seeding and duplicate)."""
    main_prompt = str(fields.get("main_prompt", ""))
    workflow = Workflow(
        id=str(fields.get("id") or new_id()),
        org_id=org.id,
        main_prompt=main_prompt,
        behavior=behavior or prompt_behavior(main_prompt) or Behavior(),
        fields={k: fields.get(k) for k in _FIELDS if k in fields},
    )
    emu.store.workflows[workflow.id] = workflow
    return workflow


def _body(workflow: Workflow, names: set[str]) -> dict[str, Any]:
    body = workflow_wire(workflow)
    body["included"] = [] if names & {"tags", "post_run_checks"} else None
    return body


def delete_workflow_cascade(emu: Emulator, workflow: Workflow) -> None:
    """Delete a workflow with all its runs (and their attachments)."""
    for run_id in list(emu.store.runs_by_workflow.get(workflow.id, {})):
        run = emu.store.runs.get(run_id)
        if run is not None:
            emu.scheduler.forget(run)
            emu.store.remove_run(run_id)
    emu.store.runs_by_workflow.pop(workflow.id, None)
    emu.store.workflows.pop(workflow.id, None)


@router.get("", response_model=WorkflowPage)
async def list_workflows(
    org: OrgDep,
    emu: EmuDep,
    search: str | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
    updated_at_from: datetime | None = None,
    updated_at_to: datetime | None = None,
    tag_ids: str | None = None,
    include_tags: bool = False,
    include: str | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Response:
    """Workflows of the organization, most recently updated first."""
    needle = search.lower() if search else None
    c_from, c_to = utc(created_at_from), utc(created_at_to)
    u_from, u_to = utc(updated_at_from), utc(updated_at_to)
    selected = []
    for wf in emu.store.workflows.values():
        if wf.org_id != org.id:
            continue
        if (
            needle
            and needle not in wf.id
            and needle not in str(wf.fields.get("name") or "").lower()
        ):
            continue
        if not in_range(wf.created_at, c_from, c_to) or not in_range(wf.updated_at, u_from, u_to):
            continue
        if tag_ids and tag_ids.strip():
            # Tags are not emulated: no workflow carries any tag.
            continue
        selected.append(wf)
    selected.sort(key=lambda w: w.updated_at, reverse=True)
    window = selected[skip : skip + limit]
    names = include_names(include)
    return json_response(
        {
            "items": [workflow_wire(w) for w in window],
            "total": len(selected),
            "skip": skip,
            "limit": limit,
            "included": [] if names or include_tags else None,
        }
    )


@router.post("", status_code=201, response_model=WorkflowOut)
async def create_workflow(
    body: WorkflowCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a workflow (an ```emulator-behavior``` block in the prompt sets its behaviour)."""
    workflow = add_workflow(emu, org, body.model_dump(mode="json"))
    return json_response(workflow_wire(workflow), 201)


@router.get("/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(
    workflow_id: UUID, org: OrgDep, emu: EmuDep, include: str | None = None
) -> Response:
    """One workflow (tags and post-run checks are included by default)."""
    workflow = find_workflow(emu, org, workflow_id)
    names = include_names(include) if include is not None else {"tags", "post_run_checks"}
    return json_response(_body(workflow, names))


@router.patch("/{workflow_id}", response_model=WorkflowOut)
async def update_workflow(
    workflow_id: UUID,
    body: WorkflowUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Update sent fields; the previous prompt goes into the version history."""
    workflow = find_workflow(emu, org, workflow_id)
    data = body.model_dump(mode="json", include=body.model_fields_set)
    if "main_prompt" in data and data["main_prompt"] is not None:
        behavior = prompt_behavior(data["main_prompt"])
        workflow.old_versions.append(
            {"main_prompt": workflow.main_prompt, "updated_at": iso(workflow.updated_at)}
        )
        workflow.main_prompt = data["main_prompt"]
        if behavior is not None:
            workflow.behavior = behavior
    for key in _FIELDS:
        if key in data:
            workflow.fields[key] = data[key]
    workflow.updated_at = utcnow()
    return json_response(workflow_wire(workflow))


@router.delete("/{workflow_id}", status_code=204, response_class=Response)
async def delete_workflow(
    workflow_id: UUID, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Delete a workflow and all of its runs."""
    delete_workflow_cascade(emu, find_workflow(emu, org, workflow_id))
    return no_content()


@router.get("/{workflow_id}/versions", response_model=list[dict[str, Any]])
async def workflow_versions(workflow_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """Previous prompts with timestamps."""
    return json_response(list(find_workflow(emu, org, workflow_id).old_versions))


@router.post("/{workflow_id}/duplicate", status_code=201, response_model=WorkflowOut)
async def duplicate_workflow(
    workflow_id: UUID,
    org: OrgDep,
    emu: EmuDep,
    body: Annotated[DuplicateBody | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Copy a workflow (name prefixed "(Copy)"), keeping its behaviour."""
    source = find_workflow(emu, org, workflow_id)
    fields = {**source.fields, "main_prompt": source.main_prompt}
    fields["name"] = f"(Copy) {source.fields.get('name') or ''}".strip()
    copy = add_workflow(emu, org, fields, source.behavior.model_copy(deep=True))
    return json_response(workflow_wire(copy), 201)


@router.post("/{workflow_id}/merge", response_model=WorkflowOut)
async def merge_workflow(
    workflow_id: UUID,
    body: MergeBody,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Merge into a target workflow; the source is deleted afterwards."""
    source = find_workflow(emu, org, workflow_id)
    target = find_workflow(emu, org, body.target_workflow_id)
    if source.id != target.id:
        delete_workflow_cascade(emu, source)
    return json_response(workflow_wire(target))
