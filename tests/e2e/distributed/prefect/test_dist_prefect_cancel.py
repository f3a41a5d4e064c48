"""Cancelling a deployment's flow run through the Prefect API while its tasks wait cancels
every Cyberdesk run it started, as the emulator itself sees them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dist_prefect_api as api
import pytest
from dist_prefect_env import HOLD_CANCEL, MAPPED, reliability_support
from dist_prefect_remote import all_running, statuses, wait_remote
from dist_prefect_stack import PrefectStack

from cyberdesk_prefect.cancellation import recorded_run_ids

pytest_plugins = ["dist_prefect_plugin"]

N = 20
INTERVAL = 2.0


@pytest.mark.e2e
def test_cancelling_a_flow_run_cancels_every_remote_run(
    two_workers: PrefectStack, dist_emulator: Any, admin: Any, figure: Callable[[str, float], None]
) -> None:
    alive = two_workers.assert_running
    flow_run_id = api.start_run(
        MAPPED, {"workflow_ids": [HOLD_CANCEL] * N, "poll_interval": INTERVAL}
    )
    runs = wait_remote(
        dist_emulator, HOLD_CANCEL, all_running(N), timeout=180, what=f"{N} runs", alive=alive
    )
    # Every run is recorded on the flow run, so the cancellation hook knows all of them.
    api.wait_run(
        flow_run_id,
        lambda run: len(recorded_run_ids(run.labels)) == N,
        timeout=60,
        what=f"{N} run ids recorded on the flow run",
        alive=alive,
    )
    api.wait_polling(INTERVAL)  # the last tasks are now waiting

    cancelled_at = time.monotonic()
    api.cancel(flow_run_id)
    done = wait_remote(
        dist_emulator,
        HOLD_CANCEL,
        lambda now: statuses(now) == {"cancelled": N},
        timeout=60,
        what=f"all {N} remote runs cancelled",
        alive=alive,
        interval=0.1,
    )
    latency = time.monotonic() - cancelled_at
    figure("cancel: API request to every remote run cancelled (s)", latency)
    assert sorted(run.id for run in done) == sorted(run.id for run in runs)
    assert latency <= 2 * INTERVAL, (
        f"remote runs cancelled {latency:.1f}s after the request\n{two_workers.log_tails(80)}"
    )

    final = api.wait_final(flow_run_id, timeout=60, alive=alive)
    assert api.state_of(final) == "CANCELLED", final.state
    reliability_support().assert_no_duplicate_creates(admin.stats(), N)
