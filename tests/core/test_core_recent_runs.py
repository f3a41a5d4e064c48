"""Bare run ids are found in pages of recent runs, however many waits start together."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from cyberdesk_core import Page, Run
from cyberdesk_core.recent_runs import Found, RecentRuns

PAGE = 1000
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


class FakeRuns:
    """`runs.list` over the organization's runs, newest first, counting the calls."""

    def __init__(self, runs: list[Run]) -> None:
        self.newest_first = sorted(runs, key=lambda r: r.created_at, reverse=True)
        self.calls: list[int] = []

    async def list(self, *, skip: int = 0, limit: int = 100, **_: Any) -> Page[Run]:
        self.calls.append(skip)
        items = self.newest_first[skip : skip + limit]
        return Page[Run](items=items, total=len(self.newest_first), skip=skip, limit=limit)


class FakeClient:
    def __init__(self, runs: FakeRuns) -> None:
        self.runs = runs

    async def __aenter__(self) -> FakeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _runs(count: int, workflow_id: str, start: int = 0) -> list[Run]:
    return [
        Run(
            id=f"{workflow_id}-{i}",
            workflow_id=workflow_id,
            status="scheduling",
            created_at=T0 + timedelta(milliseconds=i),
        )
        for i in range(start, start + count)
    ]


def _finder(runs: FakeRuns) -> RecentRuns:
    # The finder only lists runs: the fake stands in for the async client.
    return RecentRuns(lambda: FakeClient(runs))  # type: ignore[arg-type, return-value]


def _find_all(finder: RecentRuns, ids: list[str]) -> list[Found | None]:
    async def main() -> list[Found | None]:
        return list(await asyncio.gather(*(finder.find(i) for i in ids)))

    return asyncio.run(main())


def test_waits_starting_together_beyond_one_page_are_all_found() -> None:
    # 2,500 waits: one page found only the newest 1,000; the other 1,500 were read with GET
    # (10,000 Prefect async waits: 9,000 GETs in the first poll, 55 s before all were polled).
    mine = _runs(2500, "wf")
    runs = FakeRuns(mine)
    found = _find_all(RecentRuns(lambda: FakeClient(runs)), [r.id for r in mine])  # type: ignore[arg-type, return-value]
    assert all(run is not None for run in found)
    assert [run[0] for run in found if run is not None] == ["wf"] * 2500
    assert runs.calls == [0, 1000, 2000]


def test_a_first_batch_of_the_oldest_runs_finds_them_deep_and_the_rest_too() -> None:
    # Waits reach the hub over seconds, the oldest runs of a bulk first: the first batch's
    # runs are 9,000 runs deep, and its listing also serves the batches that follow.
    mine = _runs(10000, "wf")
    runs = FakeRuns(mine)
    finder = _finder(runs)
    first = _find_all(finder, [r.id for r in mine[:300]])
    assert all(run is not None for run in first)
    assert runs.calls == [i * PAGE for i in range(10)]
    rest = _find_all(finder, [r.id for r in mine[300:]])
    assert all(run is not None for run in rest)
    assert len(runs.calls) == 10


def test_paging_stops_at_a_page_without_any_wanted_run() -> None:
    # 1,000 new runs and 100 old ones behind 3,000 runs of others: the second page holds none
    # of them, so no third is read and the old runs are left to the watcher's GET.
    runs = FakeRuns(_runs(100, "wf") + _runs(3000, "other", start=1000) + _runs(1000, "wf", 9000))
    ids = [f"wf-{i}" for i in (*range(100), *range(9000, 10000))]
    found = _find_all(RecentRuns(lambda: FakeClient(runs)), ids)  # type: ignore[arg-type, return-value]
    assert found[:100] == [None] * 100
    assert all(run is not None for run in found[100:])
    assert runs.calls == [0, 1000]


def test_runs_not_among_the_recent_ones_stop_the_listing_for_good() -> None:
    old = FakeRuns(_runs(300, "wf") + _runs(12000, "other", start=1000))
    finder = _finder(old)
    assert _find_all(finder, [f"wf-{i}" for i in range(300)]) == [None] * 300
    assert old.calls == [i * PAGE for i in range(10)]
    assert _find_all(finder, ["wf-0"]) == [None]
    assert len(old.calls) == 10
