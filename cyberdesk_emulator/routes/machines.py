"""``/v1/machines`` routes (machines are simulated: created ones are connected and available)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_machine, find_pool
from cyberdesk_emulator.responses import (
    MachineOut,
    MachinePage,
    PoolOut,
)
from cyberdesk_emulator.runtime import Emulator
from cyberdesk_emulator.schemas import (
    MachineCreate,
    MachinePoolsUpdate,
    MachineStatus,
    MachineUpdate,
)
from cyberdesk_emulator.state import Machine, Vault, new_id, utcnow
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import machine_pools, machine_wire, pool_wire

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
    prefix="/v1/machines", tags=["machines"], responses=API_ERRORS, route_class=StrictJSONRoute
)

_META = ("name", "version", "hostname", "os_info")


def replace_secrets(
    vault: Vault, old: dict[str, str] | None, new: dict[str, Any] | None
) -> dict[str, str] | None:
    """Swap a sensitive-parameter alias map: old vault entries go, new plaintext is vaulted."""
    vault.delete(old)
    if new is None:
        return None
    return vault.store_all(new)


def _machine_body(emu: Emulator, machine: Machine, names: set[str]) -> dict[str, Any]:
    body = machine_wire(machine, emu.store)
    if "pools" in names:
        out = Included()
        for pool in machine_pools(machine, emu.store):
            out.add("pool", pool_wire(pool))
        body["included"] = out.items()
    return body


@router.get("", response_model=MachinePage)
async def list_machines(
    org: OrgDep,
    emu: EmuDep,
    search: str | None = None,
    name: str | None = None,
    status: MachineStatus | None = None,
    created_at_from: datetime | None = None,
    created_at_to: datetime | None = None,
    include: str | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Response:
    """Machines of the organization, newest first."""
    start, end = utc(created_at_from), utc(created_at_to)
    needle = search.lower() if search else None
    selected: list[Machine] = []
    for machine in emu.store.machines.values():
        if machine.org_id != org.id:
            continue
        if name is not None and machine.fields.get("name") != name:
            continue
        if status is not None and machine.status != status.value:
            continue
        if (start or end) and not in_range(machine.created_at, start, end):
            continue
        if needle:
            hay = [
                machine.id,
                machine.fields.get("name") or "",
                machine.fields.get("hostname") or "",
            ]
            if not any(needle in h.lower() for h in hay):
                continue
        selected.append(machine)
    selected.reverse()
    window = selected[skip : skip + limit]
    names = include_names(include)
    out = Included()
    if "pools" in names:
        for machine in window:
            for pool in machine_pools(machine, emu.store):
                out.add("pool", pool_wire(pool))
    return json_response(
        {
            "items": [machine_wire(m, emu.store) for m in window],
            "total": len(selected),
            "skip": skip,
            "limit": limit,
            "included": out.items() if names else None,
        }
    )


@router.post("", status_code=201, response_model=MachineOut)
async def create_machine(
    body: MachineCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Register a simulated machine (connected and available at once)."""
    machine = Machine(
        id=new_id(),
        org_id=org.id,
        unkey_key_id=body.unkey_key_id,
        fields={k: getattr(body, k) for k in _META} | {"fingerprint": body.fingerprint},
        parameters=body.machine_parameters,
    )
    if body.machine_sensitive_parameters is not None:
        machine.sensitive_aliases = emu.store.vault.store_all(body.machine_sensitive_parameters)
    emu.store.machines[machine.id] = machine
    emu.scheduler.kick()
    return json_response(machine_wire(machine, emu.store), 201)


@router.get("/{machine_id}", response_model=MachineOut)
async def get_machine(
    machine_id: UUID, org: OrgDep, emu: EmuDep, include: str | None = None
) -> Response:
    """One machine (``include=pools`` side-loads its pools)."""
    machine = find_machine(emu, org, machine_id)
    return json_response(_machine_body(emu, machine, include_names(include)))


@router.patch("/{machine_id}", response_model=MachineOut)
async def update_machine(
    machine_id: UUID,
    body: MachineUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """PATCH semantics; ``reserved_session_id: null`` cancels the session's runs and frees it."""
    machine = find_machine(emu, org, machine_id)
    sent = body.model_fields_set
    wanted = body.reserved_session_id
    if wanted is not None and emu.store.session_elsewhere(org.id, str(wanted)):
        # Reserving another organization's session would steal its machine reservation and
        # let this organization's runs join it (and read its outputs through $ref).
        raise HTTPException(
            status_code=404, detail=f"Session {wanted} not found (reserved_session_id)"
        )
    for key in _META:
        if key in sent:
            machine.fields[key] = getattr(body, key)
    if "status" in sent and body.status is not None:
        machine.status = body.status.value
    if "is_available" in sent and body.is_available is not None:
        machine.is_available = body.is_available
    if "alerts_enabled" in sent and body.alerts_enabled is not None:
        machine.alerts_enabled = body.alerts_enabled
    if "last_seen" in sent:
        machine.last_seen = utc(body.last_seen) or utcnow()
    if "machine_parameters" in sent:
        machine.parameters = body.machine_parameters or None
    if "machine_sensitive_parameters" in sent:
        new = body.machine_sensitive_parameters or None
        machine.sensitive_aliases = replace_secrets(emu.store.vault, machine.sensitive_aliases, new)
    if "reserved_session_id" in sent:
        if body.reserved_session_id is None:
            emu.scheduler.clear_machine_session(machine)
        else:
            emu.store.reserve(machine, str(body.reserved_session_id))
    emu.scheduler.kick()
    return json_response(machine_wire(machine, emu.store))


@router.delete("/{machine_id}", status_code=204, response_class=Response)
async def delete_machine(
    machine_id: UUID, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Delete a machine; its runs stay with ``machine_id`` null."""
    machine = find_machine(emu, org, machine_id)
    emu.scheduler.machine_deleted(machine)
    for pool_id in machine.pool_ids:
        pool = emu.store.pools.get(pool_id)
        if pool is not None:
            pool.machine_ids.discard(machine.id)
    emu.store.vault.delete(machine.sensitive_aliases)
    emu.store.machines.pop(machine.id, None)
    return no_content()


@router.get("/{machine_id}/pools", response_model=list[PoolOut])
async def get_machine_pools(machine_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """Pools of a machine (bare array)."""
    machine = find_machine(emu, org, machine_id)
    return json_response([pool_wire(p) for p in machine_pools(machine, emu.store)])


@router.put("/{machine_id}/pools", response_model=MachineOut)
async def set_machine_pools(
    machine_id: UUID,
    body: MachinePoolsUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Replace every pool membership of a machine; returns the machine."""
    machine = find_machine(emu, org, machine_id)
    pools = [find_pool(emu, org, pool_id) for pool_id in body.pool_ids]
    for pool_id in machine.pool_ids:
        old = emu.store.pools.get(pool_id)
        if old is not None:
            old.machine_ids.discard(machine.id)
    machine.pool_ids = {p.id for p in pools}
    for pool in pools:
        pool.machine_ids.add(machine.id)
    emu.scheduler.kick()
    return json_response(machine_wire(machine, emu.store))
