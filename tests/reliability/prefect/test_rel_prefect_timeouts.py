"""Prefect task and flow timeouts cancel the Cyberdesk run they abandon, within two polls.

The emulator is the judge: the run must be ``cancelled`` (not executing any more), no earlier
than the timeout and no later than two poll intervals after it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rel_prefect_env import SLOW_WORKFLOW, PollOptions

from cyberdesk_core import CyberdeskClient

POLL_SECONDS = 0.5
TIMEOUT = 3.0
WAIT: PollOptions = {
    "poll_interval": POLL_SECONDS,
    "max_poll_interval": POLL_SECONDS,
}


def _build(kind: str, credentials: Any) -> Any:
    from prefect import flow

    from cyberdesk_prefect import arun_cyberdesk_workflow, run_cyberdesk_workflow

    if kind == "sync-task-timeout":

        @flow
        def sync_task() -> Any:
            return run_cyberdesk_workflow.with_options(timeout_seconds=TIMEOUT)(
                credentials, SLOW_WORKFLOW, **WAIT
            )

        return sync_task
    if kind == "async-task-timeout":

        @flow
        async def async_task() -> Any:
            return await arun_cyberdesk_workflow.with_options(timeout_seconds=TIMEOUT)(
                credentials, SLOW_WORKFLOW, **WAIT
            )

        return async_task
    if kind == "sync-flow-timeout":

        @flow(timeout_seconds=TIMEOUT)
        def sync_flow() -> Any:
            return run_cyberdesk_workflow(credentials, SLOW_WORKFLOW, **WAIT)

        return sync_flow

    @flow(timeout_seconds=TIMEOUT)
    async def async_flow() -> Any:
        return await arun_cyberdesk_workflow(credentials, SLOW_WORKFLOW, **WAIT)

    return async_flow


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["sync-task-timeout", "async-task-timeout", "sync-flow-timeout", "async-flow-timeout"]
)
def test_timeout_cancels_the_run_within_two_polls(
    kind: str, credentials: Any, admin: Any, emulator: Any
) -> None:
    started = datetime.now(timezone.utc)
    pipeline = _build(kind, credentials)
    if kind.startswith("async"):
        state = asyncio.run(pipeline(return_state=True))
    else:
        state = pipeline(return_state=True)
    assert state.is_failed(), state
    assert admin.stats()["runs_created"] == 1
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        (run,) = client.runs.list(workflow_id=SLOW_WORKFLOW, created_at_from=started).items
        run = client.runs.get(run.id)
    state_view = admin.run_state(run.id)
    assert state_view["run"]["status"] == "cancelled", state_view["run"]["status"]
    assert not state_view["executing"]
    assert run.ended_at is not None
    # The timeout clock starts before the run is created, so this deadline is, if anything, late.
    deadline = run.created_at + timedelta(seconds=TIMEOUT)
    late = (run.ended_at - deadline).total_seconds()
    assert late <= 2 * POLL_SECONDS, f"{kind}: cancelled {late:.2f}s after the timeout"
    assert run.ended_at >= started + timedelta(seconds=TIMEOUT), "cancelled before the timeout"
