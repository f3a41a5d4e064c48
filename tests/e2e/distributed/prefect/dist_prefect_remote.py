"""The Cyberdesk side of the distributed tests: what the emulator itself says about the runs the
flow runs created (never what Prefect reports about them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dist_prefect_stack import poll_until

from cyberdesk_core import CyberdeskClient, Run


def remote_runs(emulator: Any, workflow_id: str) -> list[Run]:
    """Every run of `workflow_id` in the emulator's default organization."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        return list(client.runs.iter(workflow_id=workflow_id))


def statuses(runs: list[Run]) -> dict[str, int]:
    """`{status: count}` of `runs`."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[str(run.status)] = counts.get(str(run.status), 0) + 1
    return counts


def wait_remote(
    emulator: Any,
    workflow_id: str,
    done: Callable[[list[Run]], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], None],
    interval: float = 0.25,
) -> list[Run]:
    """Poll the runs of `workflow_id` until `done(runs)`; `alive()` may raise to stop early."""

    def check() -> list[Run] | None:
        alive()
        runs = remote_runs(emulator, workflow_id)
        return runs if done(runs) else None

    return poll_until(check, timeout=timeout, what=what, interval=interval)


def all_running(count: int) -> Callable[[list[Run]], bool]:
    """`count` runs exist and every one is executing."""
    return lambda runs: len(runs) == count and statuses(runs) == {"running": count}


def finish_all(emulator: Any, runs: list[Run]) -> None:
    """End the simulated work of every run now (they then succeed)."""
    for run in runs:
        emulator.admin.finish_run(run.id)


def run_reads(stats: dict[str, Any]) -> int:
    """Status reads so far: single-run GETs plus list calls."""
    routes = stats["requests_by_route"]
    return int(routes.get("GET /v1/runs/{run_id}", 0) + routes.get("GET /v1/runs", 0))
