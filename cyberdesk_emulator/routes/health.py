"""Health probes and the small run dashboard page."""

from __future__ import annotations

import html

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from cyberdesk_emulator.auth import EmuDep, OrgDep
from cyberdesk_emulator.responses import (
    ErrorOut,
    MachinesHealthOut,
)
from cyberdesk_emulator.wire import iso

from .common import json_response

router = APIRouter(tags=["health"])
legacy_router = APIRouter(include_in_schema=False)


@router.get("/v1/health", response_model=dict[str, str])
async def health() -> Response:
    """Liveness of the API (no auth)."""
    return json_response({"status": "healthy", "service": "cyberdesk-emulator"})


@router.get("/v1/health/db", response_model=dict[str, str])
async def health_db() -> Response:
    """Storage connectivity (in-memory: always fine)."""
    return json_response({"status": "healthy", "database": "in-memory"})


@router.get(
    "/v1/health/machines",
    response_model=MachinesHealthOut,
    responses={401: {"model": ErrorOut}, 503: {"model": MachinesHealthOut}},
)
async def health_machines(org: OrgDep, emu: EmuDep) -> Response:
    """Probe every connected machine of the organization (simulated ones always answer)."""
    machines = [m for m in emu.store.machines.values() if m.org_id == org.id]
    connected = [m for m in machines if m.status == "connected"]
    errored = [
        {
            "machine_id": m.id,
            "error": "Machine reports status 'error'",
            "organization_id": m.org_id,
            "machine_name": m.fields.get("name"),
            "status_code": None,
        }
        for m in machines
        if m.status == "error"
    ]
    body = {
        "status": "error" if errored else "ok",
        "scope": "organization",
        "checked_machines": len(connected) + len(errored),
        "healthy_machines": len(connected),
        "errored_machines": errored,
        "message": f"{len(connected)} healthy, {len(errored)} errored",
    }
    return json_response(body, 503 if errored else 200)


@legacy_router.get("/health/live")
async def live() -> Response:
    """Process liveness."""
    return json_response({"status": "alive"})


@legacy_router.get("/health/ready")
async def ready() -> Response:
    """Readiness."""
    return json_response({"status": "ready"})


@legacy_router.get("/health")
async def legacy_health() -> Response:
    """Back-compat probe."""
    return json_response({"status": "healthy"})


@legacy_router.get("/health/db")
async def legacy_health_db() -> Response:
    """Back-compat probe."""
    return json_response({"status": "healthy", "database": "in-memory"})


@legacy_router.get("/")
async def root() -> Response:
    """Service info."""
    return json_response(
        {"service": "cyberdesk-emulator", "docs": "/docs", "openapi": "/openapi.json"}
    )


@legacy_router.get("/dashboard/runs/{run_id}", response_class=HTMLResponse)
async def run_page(run_id: str, emu: EmuDep) -> HTMLResponse:
    """Tiny status page of a run (ids, status and timestamps only; never inputs or secrets)."""
    run = emu.store.runs.get(run_id)
    if run is None:
        return HTMLResponse("<h1>Run not found</h1>", status_code=404)
    rows = {
        "Run": run.id,
        "Status": run.status.value,
        "Workflow": run.workflow_id,
        "Machine": run.machine_id or "-",
        "Session": run.session_id or "-",
        "Created": iso(run.created_at),
        "Started": iso(run.started_at) or "-",
        "Ended": iso(run.ended_at) or "-",
    }
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items()
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Run {html.escape(run.id)}</title></head><body>"
        f"<h1>Cyberdesk emulator run</h1><table>{cells}</table></body></html>"
    )
    return HTMLResponse(page)
