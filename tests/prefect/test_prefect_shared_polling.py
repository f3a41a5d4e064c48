"""Many waits in one flow share polling: list calls, not a GET per run per poll."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from prefect import flow, unmapped
from prefect.futures import PrefectFutureList
from prefect_seed import SEED, WF_DOUBLE, WF_MEDIUM

from cyberdesk_core.watch_hub import HUB, RunHints, watch_key
from cyberdesk_prefect import (
    CyberdeskCredentials,
    arun_cyberdesk_chain,
    arun_cyberdesk_workflow,
    await_cyberdesk_run,
    bulk_create_cyberdesk_runs,
    run_cyberdesk_chain,
    wait_for_cyberdesk_run,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskBulkResult, CyberdeskChainResult, CyberdeskRunResult

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
            poll_interval=unmapped(INTERVAL),
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
        # Prefect's `Task.map` stubs match an async task to the sync overload (futures of a
        # coroutine); the futures of an async task resolve to its result.
        futures = cast(
            "PrefectFutureList[CyberdeskRunResult]",
            await_cyberdesk_run.map(
                unmapped(credentials),
                run_ids,
                poll_interval=unmapped(INTERVAL),
                create_artifact=unmapped(False),
            ),
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
        # Prefect's `Task.map` stubs match an async task to the sync overload (futures of a
        # coroutine); the futures of an async task resolve to its result.
        futures = cast(
            "PrefectFutureList[CyberdeskRunResult]",
            arun_cyberdesk_workflow.map(
                unmapped(credentials),
                WF_MEDIUM,
                input_values=[{"i": i} for i in range(N)],
                poll_interval=unmapped(INTERVAL),
                create_artifact=unmapped(False),
            ),
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


# Bulk waits and chains mapped in one flow: each call alone would poll its own runs every
# interval, so CALLS calls cost CALLS requests per interval; shared, about one in all.
CALLS = 6
# Long enough (simulated 60 s: 3 s real) that the flow's own overhead is small beside it.
LONG = {"duration": 60}


def _requests(before: dict[str, Any], after: dict[str, Any]) -> int:
    return sum(_polls(after)) - sum(_polls(before))


@pytest.fixture
def long_medium(admin: Any) -> Any:
    """WF_MEDIUM runs take 3 s of real time (the seeded behaviour is restored afterwards)."""
    admin.set_workflow_behavior(WF_MEDIUM, LONG)
    yield
    seeded = next(w for w in SEED["workflows"] if w["id"] == WF_MEDIUM)
    admin.set_workflow_behavior(WF_MEDIUM, seeded["behavior"])


def test_mapped_bulk_waits_share_polling(
    credentials: CyberdeskCredentials, admin: Any, long_medium: None
) -> None:
    @flow
    def create() -> list[CyberdeskBulkResult]:
        futures = bulk_create_cyberdesk_runs.map(
            unmapped(credentials), WF_MEDIUM, 2, input_values=[{"i": i} for i in range(CALLS)]
        )
        return [f.result() for f in futures]

    bulks = create()
    before = admin.stats()
    started = time.monotonic()

    @flow
    def wait_all() -> list[list[CyberdeskRunResult]]:
        futures = wait_for_cyberdesk_runs.map(
            unmapped(credentials),
            bulks,
            poll_interval=unmapped(INTERVAL),
            create_artifact=unmapped(False),
        )
        return [f.result() for f in futures]

    results = wait_all()
    rounds = (time.monotonic() - started) / INTERVAL
    requests = _requests(before, admin.stats())
    # Alone: CALLS lists per round while the runs (most of the wait) are active.
    assert requests < 2 * rounds, f"{requests} requests in ~{rounds:.0f} rounds"
    assert [[r.run_id for r in rs] for rs in results] == [b.run_ids for b in bulks]
    assert {r.status for rs in results for r in rs} == {"success"}


def test_mapped_chains_share_polling(
    credentials: CyberdeskCredentials, admin: Any, long_medium: None
) -> None:
    # While a chain has two steps or more left, its session's runs are listed together with
    # the other chains' in one request; its last step alone is read with GET (a short one here).
    steps = [
        {"workflow_id": WF_MEDIUM, "session_alias": "first"},
        {"workflow_id": WF_MEDIUM, "session_alias": "second"},
        {"workflow_id": WF_DOUBLE, "session_alias": "last", "inputs": {"value": "1"}},
    ]
    before = admin.stats()
    started = time.monotonic()

    @flow
    async def chains() -> list[CyberdeskChainResult]:
        # Async chains: each mapped task runs in an event loop of its own.
        # Prefect's `Task.map` stubs match an async task to the sync overload (futures of a
        # coroutine); the futures of an async task resolve to its result.
        futures = cast(
            "PrefectFutureList[CyberdeskChainResult]",
            arun_cyberdesk_chain.map(
                unmapped(credentials),
                [steps] * (CALLS // 2),
                poll_interval=unmapped(INTERVAL),
                create_artifact=unmapped(False),
            ),
        )
        sync = run_cyberdesk_chain.map(
            unmapped(credentials),
            [steps] * (CALLS // 2),
            poll_interval=unmapped(INTERVAL),
            create_artifact=unmapped(False),
        )
        return [f.result() for f in [*futures, *sync]]

    import asyncio

    results = asyncio.run(chains())
    rounds = (time.monotonic() - started) / INTERVAL
    requests = _requests(before, admin.stats())
    assert requests < 2 * rounds, f"{requests} requests in ~{rounds:.0f} rounds"
    assert len({r.session_id for r in results}) == CALLS
    assert {r.status for c in results for r in c.results} == {"success"}


def test_registry_key_holds_a_digest_not_the_api_key(credentials: CyberdeskCredentials) -> None:
    key = watch_key(credentials, 1.0)
    assert credentials.api_key.get_secret_value() not in repr(key)
    assert RunHints().groupable is False
    assert HUB.submit(_answer()).result(timeout=10) == 42


async def _answer() -> int:
    return 42
