"""Many waits in one flow share polling: list calls, not a GET per run per poll."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, unmapped
from prefect_seed import WF_MEDIUM

from cyberdesk_prefect import (
    CyberdeskCredentials,
    CyberdeskRunResult,
    arun_cyberdesk_workflow,
    await_for_cyberdesk_run,
    bulk_create_cyberdesk_runs,
    wait_for_cyberdesk_run,
)
from cyberdesk_prefect._shared_wait import HUB, RunHints, watch_key

N = 24
INTERVAL = 0.1


def _polls(stats: dict[str, Any]) -> tuple[int, int]:
    """(GETs of single runs, list calls) so far."""
    routes = stats["requests_by_route"]
    return routes.get("GET /v1/runs/{run_id}", 0), routes.get("GET /v1/runs", 0)


def _created_ids(credentials: CyberdeskCredentials) -> list[str]:
    @flow
    def create() -> list[str]:
        return bulk_create_cyberdesk_runs(credentials, WF_MEDIUM, N).run_ids

    return create()


def _assert_shared(before: dict[str, Any], after: dict[str, Any], seconds: float) -> None:
    gets = _polls(after)[0] - _polls(before)[0]
    lists = _polls(after)[1] - _polls(before)[1]
    # Polling alone, every run would be read once per interval while it runs.
    alone = N * seconds / INTERVAL / 2
    assert gets + lists < alone / 5, f"{gets} GETs + {lists} lists vs ~{alone:.0f} alone"


def test_mapped_sync_waits_share_polling(credentials: CyberdeskCredentials, admin: Any) -> None:
    run_ids = _created_ids(credentials)
    before = admin.stats()
    started = time.monotonic()

    @flow
    def wait_all() -> list[CyberdeskRunResult]:
        futures = wait_for_cyberdesk_run.map(
            unmapped(credentials),
            run_ids,
            poll_interval_seconds=unmapped(INTERVAL),
            create_artifact=unmapped(False),
        )
        return [f.result() for f in futures]

    results = wait_all()
    after = admin.stats()
    _assert_shared(before, after, time.monotonic() - started)
    # A bare run id is found in one listing of recent runs; at most one GET each otherwise.
    assert _polls(after)[0] - _polls(before)[0] <= N
    assert sorted(r.run_id for r in results) == sorted(run_ids)
    assert {r.status for r in results} == {"success"}


def test_mapped_async_waits_share_polling(credentials: CyberdeskCredentials, admin: Any) -> None:
    run_ids = _created_ids(credentials)
    before = admin.stats()
    started = time.monotonic()

    @flow
    def wait_all() -> list[CyberdeskRunResult]:
        # Each mapped async task runs in its own thread and event loop: sharing crosses them.
        futures = await_for_cyberdesk_run.map(
            unmapped(credentials),
            run_ids,
            poll_interval_seconds=unmapped(INTERVAL),
            create_artifact=unmapped(False),
        )
        return [f.result() for f in futures]

    results = wait_all()
    _assert_shared(before, admin.stats(), time.monotonic() - started)
    assert {r.status for r in results} == {"success"}


def test_created_runs_are_batched_from_the_first_poll(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    before = admin.stats()
    started = time.monotonic()

    @flow
    async def run_all() -> list[CyberdeskRunResult]:
        futures = arun_cyberdesk_workflow.map(
            unmapped(credentials),
            WF_MEDIUM,
            input_values=[{"i": i} for i in range(N)],
            poll_interval_seconds=unmapped(INTERVAL),
            create_artifact=unmapped(False),
        )
        return [f.result() for f in futures]

    import asyncio

    results = asyncio.run(run_all())
    after = admin.stats()
    _assert_shared(before, after, time.monotonic() - started)
    # A created run carries its workflow and creation time: only a run that is alone in its
    # group for a poll (the first ones, while the others are still being created) is read with
    # GET.
    assert _polls(after)[0] - _polls(before)[0] < 2 * N
    assert len({r.run_id for r in results}) == N


def test_registry_key_holds_a_digest_not_the_api_key(credentials: CyberdeskCredentials) -> None:
    key = watch_key(credentials, 1.0)
    assert credentials.api_key.get_secret_value() not in repr(key)
    assert RunHints().groupable is False
    assert HUB.submit(_answer()).result(timeout=10) == 42


async def _answer() -> int:
    return 42
