"""Waits in a thread-pool task runner end when the runner cancels their task runs.

A deployed flow run is cancelled with SIGTERM; its flow engine then leaves the
`ThreadPoolTaskRunner`, which sets each task run's cancel event and waits for the running tasks.
Waits that ignored the event held the process until the worker's 30 s grace period ended and it
was killed, without any `finally` cancelling the Cyberdesk runs (tests/e2e/distributed/prefect:
36 s from the cancel request to the runs cancelled). Here the runner's cancellation is driven
directly (`cancel_all`, what its exit does) from a helper thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest
from prefect import flow, unmapped
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_seed import WF_SLOW

from cyberdesk_core import CyberdeskClient
from cyberdesk_prefect import (
    CyberdeskCredentials,
    arun_cyberdesk_workflow,
    run_cyberdesk_workflow,
)

N = 3


def _active(client: CyberdeskClient, run_ids: set[str]) -> set[str]:
    runs = client.runs.iter(workflow_id=WF_SLOW)
    return {r.id for r in runs if r.id not in run_ids and not r.status.is_terminal}


@pytest.mark.parametrize("task_fn", [run_cyberdesk_workflow, arun_cyberdesk_workflow])
def test_runner_cancel_ends_waits_and_cancels_their_runs(
    task_fn: Any, credentials: CyberdeskCredentials, core_client: CyberdeskClient
) -> None:
    earlier = {r.id for r in core_client.runs.iter(workflow_id=WF_SLOW)}
    outcome: dict[str, Any] = {}

    @flow
    def waits() -> None:
        context = FlowRunContext.get()
        assert context is not None
        runner = cast(ThreadPoolTaskRunner[Any], context.task_runner)
        futures = task_fn.map(unmapped(credentials), [WF_SLOW] * N, poll_interval=unmapped(0.2))
        deadline = time.monotonic() + 30
        while len(_active(core_client, earlier)) < N and time.monotonic() < deadline:
            time.sleep(0.1)
        outcome["started"] = set(_active(core_client, earlier))
        # `cancel_all` waits for the running tasks: in a helper thread, bounded.
        stopper = threading.Thread(target=runner.cancel_all, daemon=True)
        began = time.monotonic()
        stopper.start()
        stopper.join(10)
        outcome["runner_stopped"] = not stopper.is_alive()
        outcome["seconds"] = time.monotonic() - began
        if not outcome["runner_stopped"]:
            # Without the fix the tasks wait for ever: end their runs so the flow can end.
            for run_id in outcome["started"]:
                core_client.runs.cancel(run_id)
            stopper.join(30)
        outcome["errors"] = [type(f.wrapped_future.exception(timeout=5)).__name__ for f in futures]

    waits(return_state=True)
    assert len(outcome["started"]) == N
    assert outcome["runner_stopped"], "the task runner still waited for the tasks after 10 s"
    assert outcome["errors"] == ["CancelledError"] * N
    statuses = {core_client.runs.get(run_id).status.value for run_id in outcome["started"]}
    assert statuses == {"cancelled"}
    assert outcome["seconds"] < 10
