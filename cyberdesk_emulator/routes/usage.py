"""Usage and cost: ``GET /v1/usage/aggregate`` and ``GET /v1/runs/{id}/llm-costs``.

Figures come from each finished run's ``usage_metadata`` (see :mod:`cyberdesk_emulator.billing`).
The aggregate counts the organization's runs created inside ``[from_date, to_date]``.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_run
from cyberdesk_emulator.billing import counted_steps, llm_cost_rows
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import iso

from .common import API_ERRORS, in_range, json_response, utc

router = APIRouter(
    prefix="/v1/usage", tags=["usage"], responses=API_ERRORS, route_class=StrictJSONRoute
)
runs_router = APIRouter(
    prefix="/v1/runs", tags=["runs"], responses=API_ERRORS, route_class=StrictJSONRoute
)


class UsageMode(str, Enum):
    """How steps are counted: every step of non-infrastructure failures, or billed steps."""

    simulated = "simulated"
    billed = "billed"


class UsageAggregateOut(BaseModel):
    """Agentic and cached steps of an organization over a period."""

    total_agentic_steps: int
    total_cached_steps: int
    period_start: datetime
    period_end: datetime
    mode: UsageMode
    runs_counted: int


class RunLlmCostsOut(BaseModel):
    """LLM cost breakdown of one run."""

    run_id: UUID
    rows: list[dict[str, Any]]
    has_unpriced: bool
    total_cost_usd: float | None = None


@router.get("/aggregate", response_model=UsageAggregateOut)
async def usage_aggregate(
    org: OrgDep,
    emu: EmuDep,
    from_date: Annotated[datetime, Query()],
    to_date: Annotated[datetime, Query()],
    mode: UsageMode = UsageMode.simulated,
) -> Response:
    """Sum the usage of the organization's finished runs created in the period (inclusive)."""
    start, end = utc(from_date), utc(to_date)
    if start is None or end is None or start > end:
        raise HTTPException(
            status_code=422,
            detail=[
                {
                    "loc": ["query", "to_date"],
                    "msg": "to_date is before from_date",
                    "type": "value_error",
                }
            ],
        )
    agentic = cached = counted = 0
    for run in emu.store.runs.values():
        if run.org_id != org.id or run.usage_metadata is None:
            continue
        if not in_range(run.created_at, start, end):
            continue
        steps = counted_steps(run.usage_metadata, mode.value)
        if steps is None:
            continue
        agentic, cached, counted = agentic + steps[0], cached + steps[1], counted + 1
    return json_response(
        {
            "total_agentic_steps": agentic,
            "total_cached_steps": cached,
            "period_start": iso(start),
            "period_end": iso(end),
            "mode": mode.value,
            "runs_counted": counted,
        }
    )


@runs_router.get("/{run_id}/llm-costs", response_model=RunLlmCostsOut)
async def run_llm_costs(run_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """Model calls, tokens and USD cost of the run's agentic steps so far."""
    run = find_run(emu, org, run_id)
    rows = llm_cost_rows(run)
    total = round(sum(float(r["cost_usd"]) for r in rows), 6)
    return json_response(
        {"run_id": run.id, "rows": rows, "has_unpriced": False, "total_cost_usd": total}
    )
