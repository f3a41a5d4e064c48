"""Deployment runs picked up by work-pool workers: 200 mapped `run_cyberdesk_workflow` runs with
shared polling measured, and the flagship month-end flow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dist_prefect_api as api
import pytest
from dist_prefect_env import FLAGSHIP, HOLD_MAPPED, MAPPED, ROOT, reliability_support
from dist_prefect_remote import all_running, finish_all, run_reads, statuses, wait_remote
from dist_prefect_stack import PrefectStack, poll_until

from cyberdesk_prefect.cancellation import recorded_run_ids

pytest_plugins = ["dist_prefect_plugin"]

N = 200
INTERVAL = 1.0
#: Length of the measured waiting window, in poll intervals.
WINDOW = 10


@pytest.mark.e2e
def test_200_mapped_runs_share_polling(
    two_workers: PrefectStack, dist_emulator: Any, admin: Any, figure: Callable[[str, float], None]
) -> None:
    alive = two_workers.assert_running
    started = time.monotonic()
    flow_run_id = api.start_run(
        MAPPED, {"workflow_ids": [HOLD_MAPPED] * N, "poll_interval": INTERVAL}
    )
    runs = wait_remote(
        dist_emulator, HOLD_MAPPED, all_running(N), timeout=240, what=f"{N} runs", alive=alive
    )
    figure(
        "200 mapped: deployment run to 200 remote runs running (s)",
        time.monotonic() - started,
    )
    # Each task records its run on the flow run (for the cancellation hook), then waits:
    # once all 200 are recorded, the last waits register within an interval.
    recorded = api.wait_run(
        flow_run_id,
        lambda run: len(recorded_run_ids(run.labels)) == N,
        timeout=120,
        what=f"{N} run ids recorded on the flow run",
        alive=alive,
    )
    assert sorted(recorded_run_ids(recorded.labels)) == sorted(run.id for run in runs)
    api.wait_polling(2 * INTERVAL)

    before, window_start = admin.stats(), time.monotonic()
    api.wait_polling(WINDOW * INTERVAL)
    after, seconds = admin.stats(), time.monotonic() - window_start
    intervals = seconds / INTERVAL
    per_interval = (run_reads(after) - run_reads(before)) / intervals
    for route in ("GET /v1/runs", "GET /v1/runs/{run_id}"):
        delta = after["requests_by_route"].get(route, 0) - before["requests_by_route"].get(route, 0)
        figure(f"200 mapped: {route} per poll interval", delta / intervals)
    all_requests = sum(after["requests_by_route"].values()) - sum(
        before["requests_by_route"].values()
    )
    figure("200 mapped: status reads per poll interval (vs 200 alone)", per_interval)
    figure("200 mapped: all requests per poll interval", all_requests / intervals)
    # Nothing ended in the window, so every wait was active throughout it.
    assert statuses(runs) == {"running": N}
    # Polling alone, each wait reads its run once per interval: 200 reads per interval.
    assert 0 < per_interval <= N / 20, f"{per_interval:.1f} reads per interval for {N} waits"

    finish_all(dist_emulator, runs)
    final = api.wait_final(flow_run_id, timeout=300, alive=alive)
    figure("200 mapped: deployment run total (s)", time.monotonic() - started)
    assert api.state_of(final) == "COMPLETED", final.state

    stats = admin.stats()
    figure("200 mapped: runs created", stats["runs_created"])
    reliability_support().assert_no_duplicate_creates(stats, N)
    assert "POST /v1/runs/{run_id}/retry" not in stats["requests_by_route"]
    done = wait_remote(
        dist_emulator, HOLD_MAPPED, lambda r: len(r) == N, timeout=30, what="runs", alive=alive
    )
    assert statuses(done) == {"success": N}
    # The server records task runs from their events, a little after the flow run ended.
    tasks = poll_until(
        lambda: api.finished_tasks(flow_run_id, "Run Cyberdesk workflow", N),
        timeout=60,
        what=f"{N} task runs recorded",
    )
    assert {api.state_of(task) for task in tasks} == {"COMPLETED"}


@pytest.mark.e2e
def test_flagship_month_end_flow_through_a_deployment(
    two_workers: PrefectStack, dist_emulator: Any, admin: Any, figure: Callable[[str, float], None]
) -> None:
    started = time.monotonic()
    flow_run_id = api.start_run(FLAGSHIP, {"month": "2026-10"})
    final = api.wait_final(flow_run_id, timeout=180, alive=two_workers.assert_running)
    figure("flagship: deployment run total (s)", time.monotonic() - started)
    assert api.state_of(final) == "COMPLETED", (final.state, two_workers.log_tails())

    stats = admin.stats()
    # One chain of three steps (one create of three runs); the worker's flow-run process
    # downloaded the exported CSV files that `validate_totals` reconciled.
    reliability_support().assert_no_duplicate_creates(stats, 3)
    assert stats["requests_by_route"].get("POST /v1/runs/chain") == 1
    folder = ROOT / "examples-storage" / "monthly_financial_reporting" / "2026-10"
    assert sorted(p.name for p in folder.glob("*.csv")) == [
        "journal_import_2026-10.csv",
        "trial_balance_2026-10.csv",
    ]
    tasks = poll_until(
        lambda: api.finished_tasks(flow_run_id, "validate_totals", 1),
        timeout=60,
        what="validate_totals recorded",
    )
    assert [api.state_of(task) for task in tasks] == ["COMPLETED"]
