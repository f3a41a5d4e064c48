"""``/v1/runs`` routes: create, list, get, update (cancel), delete, retry, bulk, chain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from cyberdesk_emulator import runs_service as svc
from cyberdesk_emulator.auth import EmuDep, OrgDep, find_run
from cyberdesk_emulator.responses import (
    BulkOut,
    ChainOut,
    RunOut,
    RunPage,
    RunWithIncludesOut,
)
from cyberdesk_emulator.runtime import Emulator
from cyberdesk_emulator.schemas import (
    ChainCreate,
    RunBulkCreate,
    RunCreate,
    RunField,
    RunRetry,
    RunSortMode,
    RunStatus,
    RunUpdate,
)
from cyberdesk_emulator.state import Run
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import machine_wire, pool_wire, run_projector, run_wire, workflow_wire

from .common import (
    API_ERRORS,
    IdempotencyKey,
    Included,
    Limit,
    Skip,
    in_range,
    include_names,
    json_response,
    no_content,
    utc,
)

router = APIRouter(
    prefix="/v1/runs", tags=["runs"], responses=API_ERRORS, route_class=StrictJSONRoute
)


def _side_load(emu: Emulator, runs: list[Run], names: set[str], out: Included) -> None:
    store = emu.store
    for run in runs:
        if "workflow" in names and run.workflow_id in store.workflows:
            out.add("workflow", workflow_wire(store.workflows[run.workflow_id]))
        machine = store.machines.get(run.machine_id or "")
        if machine is None:
            continue
        if "machine" in names or "machine.pools" in names:
            out.add("machine", machine_wire(machine, store))
        if "machine.pools" in names:
            for pool_id in sorted(machine.pool_ids):
                if pool_id in store.pools:
                    out.add("pool", pool_wire(store.pools[pool_id]))


def _matches_search(run: Run, needle: str, deep: bool) -> bool:
    parts = [run.id, run.session_alias or ""]
    for value in (run.input_values, run.output_data, run.error):
        if value is not None:
            parts.append(json.dumps(value))
    if deep and run.run_message_history is not None:
        parts.append(json.dumps(run.run_message_history))
    return any(needle in part.lower() for part in parts)


@router.post("", status_code=201, response_model=RunOut)
async def create_run(
    body: RunCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a run (``scheduling``); a machine is assigned asynchronously."""
    run = svc.create_run(emu, org, body, idempotency_key)
    return json_response(run_wire(run), 201)


@router.get("", response_model=RunPage)
async def list_runs(
    org: OrgDep,
    emu: EmuDep,
    workflow_id: UUID | None = None,
    machine_id: UUID | None = None,
    session_id: UUID | None = None,
    status: RunStatus | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
    sort_mode: RunSortMode = RunSortMode.activity,
    search: str | None = None,
    deep_search: bool = False,
    fields: Annotated[list[RunField] | None, Query()] = None,
    include: str | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Response:
    """List the organization's runs (filters, search, sort, projection, side-loading)."""
    store = emu.store
    if session_id is not None:
        ids = store.runs_by_session.get(str(session_id), {})
    elif workflow_id is not None:
        ids = store.runs_by_workflow.get(str(workflow_id), {})
    else:
        ids = store.runs_by_org.get(org.id, {})
    start, end = utc(created_at_from), utc(created_at_to)
    needle = search.lower() if search else None
    wanted_workflow = str(workflow_id) if workflow_id else None
    wanted_machine = str(machine_id) if machine_id else None
    selected: list[Run] = []
    for run_id in ids:
        run = store.runs.get(run_id)
        if run is None or run.org_id != org.id:
            continue
        if wanted_workflow and run.workflow_id != wanted_workflow:
            continue
        if wanted_machine and run.machine_id != wanted_machine:
            continue
        if status is not None and run.status != status:
            continue
        if (start or end) and not in_range(run.created_at, start, end):
            continue
        if needle and not _matches_search(run, needle, deep_search):
            continue
        selected.append(run)
    # Index order is creation order; newest first, then activity puts active work on top.
    selected.reverse()
    if sort_mode == RunSortMode.activity:
        selected.sort(key=lambda r: r.status.is_terminal)
    window = selected[skip : skip + limit]
    names = include_names(include)
    out = Included()
    _side_load(emu, window, names, out)
    serialise = run_projector([f.value for f in fields] if fields else None)
    return json_response(
        {
            "items": [serialise(r) for r in window],
            "total": len(selected),
            "skip": skip,
            "limit": limit,
            "included": out.items() if names else None,
        }
    )


@router.post("/bulk", status_code=201, response_model=BulkOut)
async def bulk_create(
    body: RunBulkCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create ``count`` (1..1000) identical runs at once."""
    runs = svc.bulk_create(emu, org, body, idempotency_key)
    return json_response(
        {"created_runs": [run_wire(r) for r in runs], "failed_count": 0, "errors": []}, 201
    )


@router.post("/chain", status_code=201, response_model=ChainOut)
async def create_chain(
    body: ChainCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a chain: one run per step in one session, executed strictly in order."""
    session_id, runs = svc.create_chain(emu, org, body, idempotency_key)
    return json_response({"session_id": session_id, "run_ids": [r.id for r in runs]}, 201)


@router.get("/{run_id}", response_model=RunWithIncludesOut)
async def get_run(run_id: UUID, org: OrgDep, emu: EmuDep, include: str | None = None) -> Response:
    """One run, optionally with side-loaded workflow / machine / machine.pools."""
    run = find_run(emu, org, run_id)
    names = include_names(include)
    out = Included()
    _side_load(emu, [run], names, out)
    return json_response({**run_wire(run), "included": out.items() if names else None})


@router.patch("/{run_id}", response_model=RunOut)
async def update_run(
    run_id: UUID,
    body: RunUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Update fields; ``{"status": "cancelled"}`` stops the run and frees its machine."""
    run = svc.update_run(emu, org, run_id, body)
    return json_response(run_wire(run))


@router.delete("/{run_id}", status_code=204, response_class=Response)
async def delete_run(
    run_id: UUID, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Delete a run and its attachments (an active run is stopped first)."""
    svc.delete_run(emu, org, run_id)
    return no_content()


@router.post("/{run_id}/retry", response_model=RunOut)
async def retry_run(
    run_id: UUID,
    org: OrgDep,
    emu: EmuDep,
    body: RunRetry | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Retry a terminal run in place (same id); 409 while it is still active."""
    run = svc.retry_run(emu, org, run_id, body or RunRetry())
    return json_response(run_wire(run))
