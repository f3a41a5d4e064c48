"""``GET /v1/runs/{id}/trajectory``: the trajectory recorded from a successful run's steps.

A trajectory is the replayable sequence of the agent's tool calls. The emulator derives it from
the run's message history; runs that did not succeed have none (404), as nothing worth
replaying was recorded.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_run
from cyberdesk_emulator.png import HEIGHT, WIDTH
from cyberdesk_emulator.schemas import RunStatus
from cyberdesk_emulator.state import Run
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import iso

from .common import API_ERRORS, json_response

router = APIRouter(
    prefix="/v1/runs", tags=["runs"], responses=API_ERRORS, route_class=StrictJSONRoute
)
_NAMESPACE = uuid.UUID("8d0f6a52-4c1e-4e5b-9a57-2f0c1d7e9b31")


class TrajectoryOut(BaseModel):
    """A workflow trajectory (the SDK's ``TrajectoryResponse``)."""

    id: UUID
    workflow_id: UUID
    trajectory_data: list[dict[str, Any]]
    dimensions: dict[str, Any]
    is_approved: bool
    has_been_approved: bool
    is_generated: bool
    is_main: bool
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    description: str | None = None
    run_id: UUID | None = None
    original_input_values: dict[str, Any] | None = None
    organization_id: str | None = None


def trajectory_steps(run: Run) -> list[dict[str, Any]]:
    """The run's tool calls in order."""
    steps: list[dict[str, Any]] = []
    for item in run.run_message_history or []:
        if item.get("role") != "assistant":
            continue
        for block in item.get("content") or []:
            if block.get("type") == "tool_use":
                steps.append(
                    {
                        "step_index": len(steps),
                        "tool_name": block.get("tool_name"),
                        "tool_input": block.get("tool_input") or {},
                        "timestamp": item.get("timestamp"),
                    }
                )
    return steps


@router.get("/{run_id}/trajectory", response_model=TrajectoryOut)
async def run_trajectory(run_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """The latest trajectory of the run."""
    run = find_run(emu, org, run_id)
    if run.status != RunStatus.success or run.ended_at is None:
        raise HTTPException(status_code=404, detail=f"No trajectory found for run {run.id}")
    stamp = iso(run.ended_at)
    return json_response(
        {
            "id": str(uuid.uuid5(_NAMESPACE, f"{run.id}:{stamp}")),
            "workflow_id": run.workflow_id,
            "trajectory_data": trajectory_steps(run),
            "dimensions": {"width": WIDTH, "height": HEIGHT},
            "is_approved": False,
            "has_been_approved": False,
            "is_generated": False,
            "is_main": False,
            "created_at": stamp,
            "updated_at": stamp,
            "name": f"Run {run.id}",
            "description": None,
            "run_id": run.id,
            "original_input_values": run.input_values,
            "organization_id": run.org_id,
        }
    )
