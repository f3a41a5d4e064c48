"""RunWatcher: how waiters are grouped, listed and paged so that polling is shared."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from core_fakes import T0, FakeClock
from watcher_sim import POLL, SimServer, make_watcher, ticks

from cyberdesk_core import (
    AsyncCyberdeskClient,
    Run,
    RunStatus,
    RunTimeoutError,
)
from cyberdesk_core import watcher as watcher_module


async def test_fifty_runs_of_one_workflow_use_one_list_per_tick(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for i in range(50):
        sim.add(
            f"r{i:02d}",
            finish_after=6.0 + (i % 5) * 5.0,
            created_offset=i * 0.1,
            outcome="error" if i % 7 == 0 else "success",
        )
    async with make_watcher(sim_client, clock) as watcher:
        runs = await asyncio.gather(
            *(
                watcher.wait(
                    f"r{i:02d}", workflow_id="wf-1", created_at=T0 + timedelta(seconds=i * 0.1)
                )
                for i in range(50)
            )
        )
    assert [r.id for r in runs] == [f"r{i:02d}" for i in range(50)]
    for i, run in enumerate(runs):
        assert run.status.value == ("error" if i % 7 == 0 else "success")
        assert run.output_data == {"who": run.id}
        assert run.ended_at is not None
        assert run.run_message_history is None  # the one field lists leave out
    # No GET at all: finished runs are taken from the list; one list call per tick.
    assert sim.gets == []
    assert len(sim.lists) == ticks(clock) == 7  # finishes at 6..26 s, ticks every 5 s
    first = sim.lists[0]
    assert first["workflow_id"] == "wf-1"
    assert first["fields"] == list(watcher_module.LIST_FIELDS)
    assert "run_message_history" not in first["fields"]
    assert first["sort_mode"] == "created_at_desc"
    assert first["limit"] == "1000"
    assert datetime.fromisoformat(first["created_at_from"]) == T0 - timedelta(seconds=60)
    assert all(s == POLL for s in clock.sleeps)


async def test_groups_by_workflow_and_session_and_single_get(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for i in range(4):
        sim.add(f"a{i}", "wf-A", finish_after=11)
        sim.add(f"b{i}", "wf-B", finish_after=16)
        sim.add(f"s{i}", "wf-S", finish_after=21, session_id="sess-1")
    sim.add("lone", "wf-C", finish_after=11)
    async with make_watcher(sim_client, clock) as watcher:
        waits = [watcher.wait(f"a{i}", workflow_id="wf-A", created_at=T0) for i in range(4)]
        waits += [watcher.wait(f"b{i}", workflow_id="wf-B", created_at=T0) for i in range(4)]
        waits += [
            watcher.wait(f"s{i}", workflow_id="wf-S", session_id="sess-1", created_at=T0)
            for i in range(4)
        ]
        waits.append(watcher.wait("lone"))
        runs = await asyncio.gather(*waits)
    assert all(r.status is RunStatus.SUCCESS for r in runs)
    # Ticks every 5 s; a run finishing at 11 s is seen finished on the tick at 15 s. While two
    # or more groups wait (until 20 s) one unfiltered list serves them all; then the session
    # group is listed alone, by session_id only.
    filters = [(c.get("workflow_id"), c.get("session_id")) for c in sim.lists]
    assert filters == [(None, None)] * 5 + [(None, "sess-1")]
    # The lone run, given without hints, is read with GET once, which tells its workflow;
    # from then on the shared list serves it too (a group of one). The groups never GET.
    assert sim.gets == ["lone"]


async def test_many_single_run_groups_share_one_list(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    # The last steps of ten chains: ten sessions with one run each.
    for i in range(10):
        sim.add(f"last{i}", f"wf-{i}", finish_after=11, session_id=f"sess-{i}")
    async with make_watcher(sim_client, clock) as watcher:
        runs = await asyncio.gather(
            *(watcher.wait(f"last{i}", session_id=f"sess-{i}", created_at=T0) for i in range(10))
        )
    assert all(r.status is RunStatus.SUCCESS for r in runs)
    # One unfiltered list per tick (0, 5, 10, 15 s) instead of ten GETs.
    assert sim.gets == []
    assert [(c.get("workflow_id"), c.get("session_id")) for c in sim.lists] == [(None, None)] * 4


async def test_run_missing_from_list_falls_back_to_get(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("seen", finish_after=16)
    sim.add("ghost", finish_after=16, hidden_from_list=True)
    async with make_watcher(sim_client, clock) as watcher:
        a, b = await asyncio.gather(
            watcher.wait("seen", workflow_id="wf-1", created_at=T0),
            watcher.wait("ghost", workflow_id="wf-1", created_at=T0),
        )
    assert (a.id, b.id) == ("seen", "ghost")
    assert b.status is RunStatus.SUCCESS
    # First tick: one list (ghost missing -> GET), afterwards two lone runs -> GETs only.
    assert len(sim.lists) == 1
    assert sim.gets.count("ghost") == ticks(clock)


async def test_lone_run_learns_workflow_then_joins_group(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("x", finish_after=21)
    sim.add("y", finish_after=21)
    async with make_watcher(sim_client, clock) as watcher:
        await asyncio.gather(watcher.wait("x"), watcher.wait("y"))
    # Tick 1: two GETs teach workflow_id + created_at; later ticks: one list each.
    assert sim.gets == ["x", "y"]
    assert len(sim.lists) == ticks(clock) - 1


async def test_list_paging_and_finished_runs_not_polled_again(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for i in range(25):
        sim.add(f"r{i:02d}", finish_after=6 if i < 10 else 16, created_offset=i)
    async with make_watcher(sim_client, clock, page_size=10) as watcher:
        await asyncio.gather(
            *(
                watcher.wait(f"r{i:02d}", workflow_id="wf-1", created_at=T0 + timedelta(seconds=i))
                for i in range(25)
            )
        )
    skips_per_tick: list[list[str]] = []
    for call in sim.lists:
        if call["skip"] == "0":
            skips_per_tick.append([])
        skips_per_tick[-1].append(call["skip"])
    assert skips_per_tick[0] == ["0", "10", "20"]
    assert sim.gets == []
    # Ticks at 0, 5, 10 s scan all three pages; the first ten runs end at 6 s and are resolved
    # at 10 s. Later scans start from the oldest *pending* run and stop once all are found.
    assert skips_per_tick[:3] == [["0", "10", "20"]] * 3
    assert skips_per_tick[3:] == [["0", "10"]] * (len(skips_per_tick) - 3)
    last = sim.lists[-1]
    assert datetime.fromisoformat(last["created_at_from"]) == T0 + timedelta(seconds=10 - 60)


async def test_old_runs_in_busy_workflow_fall_back_to_get(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    # Two watched runs, but 30 newer runs of the same workflow: with 10 per page, finding the
    # old ones would take 4 list calls, more than the 2 GETs it replaces.
    sim.add("old1", finish_after=11)
    sim.add("old2", finish_after=11)
    for i in range(30):
        sim.add(f"new{i}", finish_after=1000, created_offset=10 + i)
    async with make_watcher(sim_client, clock, page_size=10) as watcher:
        runs = await asyncio.gather(
            watcher.wait("old1", workflow_id="wf-1", created_at=T0),
            watcher.wait("old2", workflow_id="wf-1", created_at=T0),
        )
    assert [r.id for r in runs] == ["old1", "old2"]
    assert len(sim.lists) == 1  # one page tried once, then GETs only
    assert sim.gets.count("old1") == ticks(clock)


async def test_status_callbacks_per_waiter(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=16, checks_for=6)
    sim.add("b", finish_after=16)
    seen: dict[str, list[str]] = {"a1": [], "a2": [], "b": []}

    def cb(name: str) -> Any:
        async def on_change(run: Run) -> None:
            seen[name].append(run.status.value)

        return on_change

    async with make_watcher(sim_client, clock) as watcher:
        r1, r2, r3 = await asyncio.gather(
            watcher.wait("a", workflow_id="wf-1", created_at=T0, on_status_change=cb("a1")),
            watcher.wait("a", workflow_id="wf-1", created_at=T0, on_status_change=cb("a2")),
            watcher.wait("b", workflow_id="wf-1", created_at=T0, on_status_change=cb("b")),
        )
    assert r1 is r2
    assert r1.id == "a"
    assert r3.id == "b"
    assert seen["a1"] == seen["a2"] == ["running", "running_checks", "success"]
    assert seen["b"] == ["running", "success"]


async def test_deadline_per_waiter(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("slow", finish_after=100)
    sim.add("fast", finish_after=6)
    async with make_watcher(sim_client, clock) as watcher:
        slow = watcher.wait("slow", deadline=T0 + timedelta(seconds=12))
        fast = watcher.wait("fast")
        results = await asyncio.gather(slow, fast, return_exceptions=True)
    assert isinstance(results[0], RunTimeoutError)
    assert results[0].run is not None
    assert results[0].run.status is RunStatus.RUNNING
    assert isinstance(results[1], Run)
    assert results[1].id == "fast"
    assert clock.now == T0 + timedelta(seconds=12)
    assert 2.0 in clock.sleeps  # slept only up to the deadline


async def test_ticks_start_one_interval_apart_however_long_they_take(
    sim: SimServer, clock: FakeClock
) -> None:
    for i in range(3):
        sim.add(f"r{i}", finish_after=12)

    def slow_server(request: httpx.Request) -> httpx.Response:
        clock.now += timedelta(seconds=1.5)  # each list call takes 1.5 s of the tick
        return sim(request)

    client = AsyncCyberdeskClient(
        "k", base_url="https://sim", transport=httpx.MockTransport(slow_server), max_retries=0
    )
    async with make_watcher(client, clock) as watcher:
        await asyncio.gather(
            *(watcher.wait(f"r{i}", workflow_id="wf-1", created_at=T0) for i in range(3))
        )
    # Ticks start at 0, 5, 10, 15 s: each pause is the interval minus the tick's 1.5 s.
    assert clock.sleeps == [POLL - 1.5] * 3
    assert len(sim.lists) == 4


async def test_many_small_groups_share_one_list_per_tick(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for w in range(20):
        for i in range(3):
            sim.add(f"w{w}-{i}", f"wf-{w}", finish_after=6 + w % 3 * 5)
    async with make_watcher(sim_client, clock) as watcher:
        runs = await asyncio.gather(
            *(
                watcher.wait(f"w{w}-{i}", workflow_id=f"wf-{w}", created_at=T0)
                for w in range(20)
                for i in range(3)
            )
        )
    assert all(r.status is RunStatus.SUCCESS and r.output_data for r in runs)
    # Runs end at 6, 11, 16 s; ticks at 0..20 s list once each, not once per workflow; no GET.
    assert len(sim.lists) == ticks(clock) == 5
    assert all("workflow_id" not in c and "session_id" not in c for c in sim.lists)
    assert sim.gets == []


async def test_busy_organization_falls_back_to_group_lists(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for w in ("A", "B"):
        for i in range(2):
            sim.add(f"{w}{i}", f"wf-{w}", finish_after=11)
    for i in range(30):  # newer runs of other workflows: 3 pages of 10 before ours
        sim.add(f"other{i}", "wf-other", finish_after=1000, created_offset=1 + i)
    async with make_watcher(sim_client, clock, page_size=10) as watcher:
        await asyncio.gather(
            *(
                watcher.wait(f"{w}{i}", workflow_id=f"wf-{w}", created_at=T0)
                for w in "AB"
                for i in range(2)
            )
        )
    # The unfiltered list gets one page (it must beat two group lists), misses, and is not
    # tried again; every tick lists each workflow instead.
    unfiltered = [c for c in sim.lists if "workflow_id" not in c]
    assert len(unfiltered) == 1
    per_tick = [c["workflow_id"] for c in sim.lists if "workflow_id" in c]
    assert per_tick == ["wf-A", "wf-B"] * ticks(clock)
    assert sim.gets == []


async def test_refused_unfiltered_list_falls_back_to_group_lists(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for w in ("A", "B"):
        for i in range(2):
            sim.add(f"{w}{i}", f"wf-{w}", finish_after=6)
    original = sim._list

    def picky(request: httpx.Request, now: datetime) -> httpx.Response:
        params = request.url.params
        if "workflow_id" not in params and "session_id" not in params:
            sim.lists.append({"refused": "yes"})
            return httpx.Response(
                422, json={"detail": [{"loc": ["query"], "msg": "x", "type": "x"}]}
            )
        return original(request, now)

    sim._list = picky  # type: ignore[method-assign]
    async with make_watcher(sim_client, clock) as watcher:
        runs = await asyncio.gather(
            *(
                watcher.wait(f"{w}{i}", workflow_id=f"wf-{w}", created_at=T0)
                for w in "AB"
                for i in range(2)
            )
        )
    assert all(r.status is RunStatus.SUCCESS for r in runs)
    assert sim.lists[0] == {"refused": "yes"}
    assert [c.get("workflow_id") for c in sim.lists[1:]] == ["wf-A", "wf-B"] * ticks(clock)
