"""Health probes (the run page is ``routes/dashboard.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cyberdesk_emulator.auth import EmuDep, OrgDep
from cyberdesk_emulator.responses import (
    ErrorOut,
    MachinesHealthOut,
)

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
