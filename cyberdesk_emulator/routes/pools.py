"""``/v1/pools`` routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_machine, find_pool
from cyberdesk_emulator.responses import (
    PoolOut,
    PoolPage,
    PoolWithMachinesOut,
)
from cyberdesk_emulator.runtime import Emulator
from cyberdesk_emulator.schemas import (
    PoolCreate,
    PoolMachines,
    PoolUpdate,
)
from cyberdesk_emulator.state import Pool, new_id, utcnow
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import machine_wire, pool_machines, pool_wire

from .common import (
    API_ERRORS,
    IdempotencyKey,
    Included,
    Limit,
    Skip,
    include_names,
    json_response,
    no_content,
)
from .machines import replace_secrets

router = APIRouter(
    prefix="/v1/pools", tags=["pools"], responses=API_ERRORS, route_class=StrictJSONRoute
)


def _with_machines(emu: Emulator, pool: Pool) -> dict[str, Any]:
    return {
        **pool_wire(pool),
        "machines": [machine_wire(m, emu.store) for m in pool_machines(pool, emu.store)],
    }


@router.get("", response_model=PoolPage)
async def list_pools(
    org: OrgDep, emu: EmuDep, include: str | None = None, skip: Skip = 0, limit: Limit = 100
) -> Response:
    """Pools of the organization, newest first."""
    pools = [p for p in emu.store.pools.values() if p.org_id == org.id]
    pools.reverse()
    window = pools[skip : skip + limit]
    names = include_names(include)
    out = Included()
    if "machines" in names:
        for pool in window:
            for machine in pool_machines(pool, emu.store):
                out.add("machine", machine_wire(machine, emu.store))
    return json_response(
        {
            "items": [pool_wire(p) for p in window],
            "total": len(pools),
            "skip": skip,
            "limit": limit,
            "included": out.items() if names else None,
        }
    )


@router.post("", status_code=201, response_model=PoolOut)
async def create_pool(
    body: PoolCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Create a pool."""
    pool = Pool(
        id=new_id(),
        org_id=org.id,
        name=body.name,
        description=body.description,
        parameters=body.pool_parameters,
    )
    if body.pool_sensitive_parameters is not None:
        pool.sensitive_aliases = emu.store.vault.store_all(body.pool_sensitive_parameters)
    emu.store.pools[pool.id] = pool
    return json_response(pool_wire(pool), 201)


@router.get("/{pool_id}", response_model=PoolWithMachinesOut)
async def get_pool(
    pool_id: UUID,
    org: OrgDep,
    emu: EmuDep,
    include: str | None = None,
    include_machines: bool = False,
) -> Response:
    """One pool; ``include=machines`` (or legacy ``include_machines``) adds its machines."""
    pool = find_pool(emu, org, pool_id)
    names = include_names(include)
    body: dict[str, Any] = {**pool_wire(pool), "machines": None, "included": None}
    if include_machines or "machines" in names:
        body["machines"] = _with_machines(emu, pool)["machines"]
    if names:
        out = Included()
        if "machines" in names:
            for machine in pool_machines(pool, emu.store):
                out.add("machine", machine_wire(machine, emu.store))
        body["included"] = out.items()
    return json_response(body)


@router.patch("/{pool_id}", response_model=PoolOut)
async def update_pool(
    pool_id: UUID,
    body: PoolUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """PATCH semantics; ``{}`` clears (sensitive) parameters."""
    pool = find_pool(emu, org, pool_id)
    sent = body.model_fields_set
    if "name" in sent and body.name is not None:
        pool.name = body.name
    if "description" in sent:
        pool.description = body.description
    if "pool_parameters" in sent:
        pool.parameters = body.pool_parameters or None
    if "pool_sensitive_parameters" in sent:
        new = body.pool_sensitive_parameters or None
        pool.sensitive_aliases = replace_secrets(emu.store.vault, pool.sensitive_aliases, new)
    pool.updated_at = utcnow()
    return json_response(pool_wire(pool))


@router.delete("/{pool_id}", status_code=204, response_class=Response)
async def delete_pool(
    pool_id: UUID, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Delete a pool; its machines stay."""
    pool = find_pool(emu, org, pool_id)
    for machine_id in pool.machine_ids:
        machine = emu.store.machines.get(machine_id)
        if machine is not None:
            machine.pool_ids.discard(pool.id)
    emu.store.vault.delete(pool.sensitive_aliases)
    emu.store.pools.pop(pool.id, None)
    return no_content()


@router.post("/{pool_id}/machines", response_model=PoolWithMachinesOut)
async def add_machines(
    pool_id: UUID,
    body: PoolMachines,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Add machines to a pool; returns the pool with its machines."""
    pool = find_pool(emu, org, pool_id)
    machines = [find_machine(emu, org, m) for m in body.machine_ids]
    for machine in machines:
        machine.pool_ids.add(pool.id)
        pool.machine_ids.add(machine.id)
    pool.updated_at = utcnow()
    emu.scheduler.kick()
    return json_response(_with_machines(emu, pool))


@router.delete("/{pool_id}/machines", status_code=204, response_class=Response)
async def remove_machines(
    pool_id: UUID,
    body: PoolMachines,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Remove machines from a pool (JSON body)."""
    pool = find_pool(emu, org, pool_id)
    machines = [find_machine(emu, org, m) for m in body.machine_ids]
    for machine in machines:
        machine.pool_ids.discard(pool.id)
        pool.machine_ids.discard(machine.id)
    pool.updated_at = utcnow()
    return no_content()
