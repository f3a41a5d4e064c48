"""Run creation, bulk, chain, retry and update rules (the HTTP layer stays thin)."""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from typing import Any

from fastapi import HTTPException

from .auth import find_machine, find_pool, find_run, find_session, find_workflow
from .blobs import Blob
from .limits import check_stored_inputs
from .runtime import Emulator
from .schemas import (
    ChainCreate,
    FileInput,
    RunBulkCreate,
    RunCreate,
    RunRetry,
    RunStatus,
    RunUpdate,
)
from .state import Attachment, Organization, Run, Workflow, new_id
from .strict_json import dumps

DEFAULT_TARGET = "~/CyberdeskTransfers/"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def file_blobs(emu: Emulator, files: list[FileInput]) -> list[tuple[FileInput, Blob]]:
    """Decode ``file_inputs`` once (a bulk's runs share the result)."""
    return [(item, emu.blobs.from_bytes(item.data())) for item in files]


def input_attachments(
    emu: Emulator, org: Organization, run_id: str, files: list[tuple[FileInput, Blob]]
) -> list[str]:
    """Store decoded ``file_inputs`` as ``input`` attachments of a run; return their ids."""
    ids: list[str] = []
    for item, blob in files:
        ctype = mimetypes.guess_type(item.filename)[0] or "application/octet-stream"
        att = Attachment(
            id=new_id(),
            org_id=org.id,
            run_id=run_id,
            filename=item.filename,
            content_type=ctype,
            attachment_type="input",
            blob=blob,
            target_path=item.target_path or DEFAULT_TARGET,
            cleanup_imports_after_run=item.cleanup_imports_after_run,
        )
        emu.store.add_attachment(att)
        ids.append(att.id)
    return ids


def _model_metadata(body: RunCreate) -> dict[str, Any] | None:
    meta = body.model_metadata.model_dump(mode="json") if body.model_metadata else None
    if body.main_agent_model_id is not None:
        meta = dict(meta or {})
        meta["main_agent_model_id"] = str(body.main_agent_model_id)
    return meta


def _check_placement(
    emu: Emulator, org: Organization, machine_id: object | None, pool_ids: list[uuid.UUID] | None
) -> None:
    if machine_id is not None:
        find_machine(emu, org, machine_id)
    for pool_id in pool_ids or []:
        find_pool(emu, org, pool_id)


def _new_run(
    emu: Emulator,
    org: Organization,
    workflow: Workflow,
    *,
    machine_id: object | None,
    pool_ids: list[uuid.UUID] | None,
    input_values: dict[str, Any] | None,
    secrets: dict[str, Any] | None,
    session_id: str | None,
    is_priority: bool,
    run_id: str | None = None,
) -> Run:
    run = Run(
        id=run_id or new_id(),
        org_id=org.id,
        workflow_id=workflow.id,
        requested_machine_id=str(machine_id) if machine_id is not None else None,
        pool_ids=[str(p) for p in pool_ids] if pool_ids is not None else None,
        input_values=input_values,
        session_id=session_id,
        is_priority=is_priority,
    )
    if secrets:
        run.sensitive_input_aliases = emu.store.vault.store_all(secrets)
    return run


def create_run(emu: Emulator, org: Organization, body: RunCreate, key: str | None) -> Run:
    """``POST /v1/runs``."""
    workflow = find_workflow(emu, org, body.workflow_id)
    _check_placement(emu, org, body.machine_id, body.pool_ids)
    run_id = new_id()
    session_id: str | None = None
    if body.session_id is not None:
        session_id = find_session(emu, org, body.session_id)
    elif body.start_session:
        session_id = run_id
    run = _new_run(
        emu,
        org,
        workflow,
        machine_id=body.machine_id,
        pool_ids=body.pool_ids,
        input_values=body.input_values,
        secrets=body.sensitive_input_values,
        session_id=session_id,
        is_priority=body.is_priority,
        run_id=run_id,
    )
    run.main_prompt = body.main_prompt
    run.model_metadata = _model_metadata(body)
    run.session_alias = body.session_alias
    run.release_session_after = body.release_session_after
    files = file_blobs(emu, body.file_inputs or [])
    run.input_attachment_ids = input_attachments(emu, org, run.id, files)
    emu.store.add_run(run)
    emu.scheduler.enqueue(run)
    emu.stats.record_runs(1, key)
    return run


def bulk_create(
    emu: Emulator, org: Organization, body: RunBulkCreate, key: str | None
) -> list[Run]:
    """``POST /v1/runs/bulk``: ``count`` identical runs, validated before any is created."""
    workflow = find_workflow(emu, org, body.workflow_id)
    _check_placement(emu, org, body.machine_id, body.pool_ids)
    session_id: str | None = None
    if body.session_id is not None:
        session_id = find_session(emu, org, body.session_id)
    elif body.start_session:
        session_id = new_id()
    if body.count > 1 and body.input_values:
        size = len(dumps(body.input_values))
        limit = emu.settings.max_body_bytes
        check_stored_inputs(limit, body.count * size, f"A bulk of {body.count} runs")
    files = file_blobs(emu, body.file_inputs or [])
    runs: list[Run] = []
    for _ in range(body.count):
        run = _new_run(
            emu,
            org,
            workflow,
            machine_id=body.machine_id,
            pool_ids=body.pool_ids,
            input_values=json.loads(json.dumps(body.input_values))
            if body.input_values is not None
            else None,
            secrets=body.sensitive_input_values,
            session_id=session_id,
            is_priority=body.is_priority,
        )
        run.input_attachment_ids = input_attachments(emu, org, run.id, files)
        emu.store.add_run(run)
        runs.append(run)
    for run in runs:
        emu.scheduler.enqueue(run)
    emu.stats.record_runs(len(runs), key)
    return runs


def declared_variables(workflow: Workflow) -> set[str] | None:
    """Variables a workflow declares (prompt ``{name}`` and input_schema properties).

    None when it declares none: then every shared input applies.
    """
    names = set(_PLACEHOLDER.findall(workflow.main_prompt))
    schema = workflow.fields.get("input_schema")
    if isinstance(schema, str):
        try:
            parsed = json.loads(schema)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("properties"), dict):
            names.update(str(k) for k in parsed["properties"])
    return names or None


def create_chain(
    emu: Emulator, org: Organization, body: ChainCreate, key: str | None
) -> tuple[str, list[Run]]:
    """``POST /v1/runs/chain``: one run per step in one session, executed in step order."""
    workflows = [find_workflow(emu, org, step.workflow_id) for step in body.steps]
    if len(body.steps) > 1 and body.shared_inputs:
        total = len(body.steps) * len(dumps(body.shared_inputs))
        limit = emu.settings.max_body_bytes
        check_stored_inputs(limit, total, f"A chain of {len(body.steps)} steps")
    new_session = body.session_id is None
    if new_session:
        _check_placement(emu, org, body.machine_id, body.pool_ids)
        session_id = new_id()
    else:
        session_id = find_session(emu, org, body.session_id)
    runs: list[Run] = []
    for index, (step, workflow) in enumerate(zip(body.steps, workflows, strict=False)):
        declared = declared_variables(workflow)
        shared = {
            k: v for k, v in (body.shared_inputs or {}).items() if declared is None or k in declared
        }
        secrets = {**(body.shared_sensitive_inputs or {}), **(step.sensitive_inputs or {})}
        run = _new_run(
            emu,
            org,
            workflow,
            machine_id=body.machine_id if new_session else None,
            pool_ids=body.pool_ids if new_session and body.machine_id is None else None,
            input_values={**shared, **(step.inputs or {})},
            secrets=secrets,
            session_id=session_id,
            is_priority=body.is_priority,
        )
        run.session_alias = step.session_alias
        if index == len(body.steps) - 1 and not body.keep_session_after_completion:
            run.release_session_after = True
        if index == 0 and body.shared_file_inputs:
            files = file_blobs(emu, body.shared_file_inputs)
            run.input_attachment_ids = input_attachments(emu, org, run.id, files)
        emu.store.add_run(run)
        runs.append(run)
    for run in runs:
        emu.scheduler.enqueue(run)
    emu.stats.record_runs(len(runs), key)
    return session_id, runs


def retry_run(emu: Emulator, org: Organization, run_id: object, body: RunRetry) -> Run:
    """``POST /v1/runs/{id}/retry``: same id, back to ``scheduling``, outputs cleared."""
    run = find_run(emu, org, run_id)
    if not run.status.is_terminal:
        raise HTTPException(
            status_code=409,
            detail=f"Run {run.id} is {run.status.value}; only runs in a terminal status "
            "(success, task_failed, error, cancelled) can be retried",
        )
    _check_placement(emu, org, body.machine_id, body.pool_ids)
    session_id: str | None = run.session_id
    if body.start_session:
        session_id = new_id()
    elif body.session_id is not None:
        session_id = find_session(emu, org, body.session_id)
    elif body.reuse_session is False:
        session_id = None
        run.session_alias = None
        run.release_session_after = None
    store = emu.store
    store.finished.pop(run.id, None)
    store.drop_run_attachments(run, run.output_attachment_ids)
    if body.file_inputs is not None:
        store.drop_run_attachments(run, run.input_attachment_ids)
        files = file_blobs(emu, body.file_inputs)
        run.input_attachment_ids = input_attachments(emu, org, run.id, files)
    store.vault.delete(run.sensitive_input_aliases)
    run.sensitive_input_aliases = (
        store.vault.store_all(body.sensitive_input_values) if body.sensitive_input_values else None
    )
    if body.input_values is not None:
        run.input_values = body.input_values
    if body.machine_id is not None:
        run.requested_machine_id = str(body.machine_id)
    elif body.pool_ids is not None:
        run.requested_machine_id = None
    if body.pool_ids is not None:
        run.pool_ids = [str(p) for p in body.pool_ids]
    store.set_session(run, session_id)
    if body.session_alias is not None:
        run.session_alias = body.session_alias
    if body.release_session_after is not None:
        run.release_session_after = body.release_session_after
    if body.is_priority is not None:
        run.is_priority = body.is_priority
    run.status = RunStatus.scheduling
    run.machine_id = None
    run.output_data = None
    run.run_message_history = None
    run.usage_metadata = None
    run.output_attachment_ids = []
    run.error = None
    run.post_run_checks = None
    run.started_at = None
    run.ended_at = None
    run.queue_seq = store.next_seq()
    emu.scheduler.enqueue(run)
    return run


_PLAIN_FIELDS = (
    "error",
    "output_data",
    "output_attachment_ids",
    "run_message_history",
    "input_values",
    "usage_metadata",
    "post_run_checks",
    "started_at",
    "ended_at",
    "release_session_after",
)


def _check_attachment_ids(emu: Emulator, org: Organization, ids: list[str]) -> None:
    """404 naming ``output_attachment_ids`` unless every id is an attachment of the org.

    Unchecked, another organization's id let a run list its metadata and delete its file.
    """
    for index, att_id in enumerate(ids):
        att = emu.store.attachments.get(att_id)
        if att is None or att.org_id != org.id:
            raise HTTPException(
                status_code=404,
                detail=f"Run attachment {att_id[:64]} not found (output_attachment_ids[{index}]): "
                "list only attachments of your organization",
            )


def update_run(emu: Emulator, org: Organization, run_id: object, body: RunUpdate) -> Run:
    """``PATCH /v1/runs/{id}``; a terminal ``status`` on an active run stops it for real."""
    run = find_run(emu, org, run_id)
    sent = body.model_fields_set
    if "output_attachment_ids" in sent:
        _check_attachment_ids(emu, org, body.output_attachment_ids or [])
    # An explicit null status means "leave it": a run always has a status.
    target = body.status
    if target is not None and target != run.status:
        if run.status.is_terminal and not target.is_terminal:
            raise HTTPException(
                status_code=409,
                detail=f"Run {run.id} is {run.status.value}; use POST /v1/runs/{run.id}/retry "
                "to run it again",
            )
        if not run.status.is_terminal and not target.is_terminal:
            raise HTTPException(
                status_code=409,
                detail=f"Run {run.id} is {run.status.value}; the emulator moves active runs "
                "itself, only a terminal status can be set",
            )
    for name in _PLAIN_FIELDS:
        if name in sent:
            value = getattr(body, name)
            if name == "output_attachment_ids":
                value = list(value or [])
            setattr(run, name, value)
    if target is not None and target != run.status:
        if run.status.is_terminal:
            run.status = target
        else:
            emu.scheduler.finish(run, target)
    return run


def delete_run(emu: Emulator, org: Organization, run_id: object) -> None:
    """``DELETE /v1/runs/{id}``: stops it if active, removes it and its attachments."""
    run = find_run(emu, org, run_id)
    emu.scheduler.forget(run)
    emu.store.remove_run(run.id)
