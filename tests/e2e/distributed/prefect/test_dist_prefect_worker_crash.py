"""`kill -9` of the worker executing a flow run (and of its flow-run process) mid-flow, then a
retry of the flow run as the UI's "Retry" does it: the other worker runs it again, every task
re-attaches to the run its first attempt created (the finished ones are reused, not executed
again), and no run is created twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dist_prefect_api as api
import pytest
from dist_prefect_env import FAST_WORKFLOW, HOLD_CRASH, MAPPED, WORKERS, reliability_support
from dist_prefect_remote import all_running, finish_all, remote_runs, statuses, wait_remote
from dist_prefect_stack import PrefectStack, poll_until

from cyberdesk_prefect.cancellation import recorded_run_ids

pytest_plugins = ["dist_prefect_plugin"]

FAST = 5
HELD = 5
INTERVAL = 1.0


@pytest.mark.e2e
def test_killed_worker_then_flow_retry_reattaches(
    two_workers: PrefectStack, dist_emulator: Any, admin: Any, figure: Callable[[str, float], None]
) -> None:
    alive = two_workers.assert_running
    flow_run_id = api.start_run(
        MAPPED,
        {
            "workflow_ids": [FAST_WORKFLOW] * FAST + [HOLD_CRASH] * HELD,
            "poll_interval": INTERVAL,
        },
    )
    held = wait_remote(
        dist_emulator, HOLD_CRASH, all_running(HELD), timeout=180, what="held runs", alive=alive
    )
    fast = wait_remote(
        dist_emulator,
        FAST_WORKFLOW,
        lambda runs: statuses(runs).get("success", 0) >= FAST,
        timeout=60,
        what="fast runs succeeded",
        alive=alive,
    )
    api.wait_run(
        flow_run_id,
        lambda run: len(recorded_run_ids(run.labels)) == FAST + HELD,
        timeout=60,
        what="every run recorded on the flow run",
        alive=alive,
    )

    victim = poll_until(
        lambda: two_workers.worker_of(flow_run_id), timeout=30, what="the flow run's worker"
    )
    runner_pids = {proc.pid for proc in two_workers.flow_run_processes(flow_run_id)}
    killed = two_workers.crash(victim)
    survivor = next(name for name in WORKERS if name != victim)
    # The worker and the flow-run process it started are gone.
    assert runner_pids
    assert runner_pids <= set(killed)
    assert two_workers.flow_run_processes(flow_run_id) == []
    # Nothing ran a finally or a hook: the held runs are still executing.
    assert statuses(remote_runs(dist_emulator, HOLD_CRASH)) == {"running": HELD}

    api.crash_and_retry(flow_run_id)
    # Every task of the second attempt re-sends its create with the first attempt's key.
    poll_until(
        lambda: admin.stats()["idempotent_replays"] >= FAST + HELD,
        timeout=180,
        what="the retried tasks to re-attach",
    )
    assert two_workers.worker_of(flow_run_id) == survivor
    finish_all(dist_emulator, held)
    final = api.wait_final(flow_run_id, timeout=120, alive=alive)
    assert api.state_of(final) == "COMPLETED", final.state
    assert final.run_count == 2

    stats = admin.stats()
    figure("worker crash: runs created (10 tasks)", stats["runs_created"])
    figure("worker crash: creates replayed on retry", stats["idempotent_replays"])
    reliability_support().assert_no_duplicate_creates(stats, FAST + HELD)
    # Succeeded runs are reused, never executed again.
    assert "POST /v1/runs/{run_id}/retry" not in stats["requests_by_route"]
    ids = {run.id for run in fast} | {run.id for run in held}
    assert set(recorded_run_ids(final.labels)) == ids
    assert statuses(remote_runs(dist_emulator, HOLD_CRASH)) == {"success": HELD}
