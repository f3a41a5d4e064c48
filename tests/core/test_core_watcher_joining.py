"""RunWatcher: waiters that join while it pauses between ticks wait for the next tick.

Found with 200 mapped Prefect tasks on work-pool workers (tests/e2e/distributed/prefect): the
tasks register their waits one after another over many seconds, and every registration woke
the watcher for an extra tick, so it listed the workflow's runs about ten times per interval
instead of once. Only a new waiter whose deadline falls inside the pause may cut it short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from core_fakes import T0, FakeClock
from watcher_sim import POLL, SimServer

from cyberdesk_core import AsyncCyberdeskClient, RunTimeoutError, RunWatcher


class GatedSleep:
    """A sleep that advances the fake clock only when the test opens the gate."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.gate = asyncio.Event()
        self.paused = asyncio.Event()
        self.sleeps: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.paused.set()
        await self.gate.wait()
        self.gate.clear()
        self.paused.clear()
        self.clock.now += timedelta(seconds=seconds)


async def test_waiters_joining_during_a_pause_share_the_next_tick(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    for i in range(21):
        sim.add(f"r{i:02d}", finish_after=3.0)
    sleep = GatedSleep(clock)
    async with RunWatcher(sim_client, poll_interval=POLL, clock=clock, sleep=sleep) as watcher:
        first = [
            asyncio.ensure_future(watcher.wait(f"r{i:02d}", workflow_id="wf-1", created_at=T0))
            for i in range(2)
        ]
        await asyncio.wait_for(sleep.paused.wait(), 5)
        assert len(sim.lists) == 1
        # Nineteen more waits start while the watcher pauses: none of them costs a request.
        later = [
            asyncio.ensure_future(watcher.wait(f"r{i:02d}", workflow_id="wf-1", created_at=T0))
            for i in range(2, 21)
        ]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(sim.lists) == 1
        assert sim.gets == []
        # The next tick reads all 21 with one list call and finds them finished.
        sleep.gate.set()
        runs = await asyncio.wait_for(asyncio.gather(*first, *later), 5)
    assert len(sim.lists) == 2
    assert sorted(run.id for run in runs) == [f"r{i:02d}" for i in range(21)]


async def _until(condition: Callable[[], bool]) -> None:
    """Let the loop run until `condition()` holds (a bounded number of turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_a_waiter_with_an_earlier_deadline_cuts_the_pause_short(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("slow", finish_after=100.0)
    sim.add("hurry", finish_after=100.0)
    sleep = GatedSleep(clock)
    async with RunWatcher(sim_client, poll_interval=POLL, clock=clock, sleep=sleep) as watcher:
        slow = asyncio.ensure_future(watcher.wait("slow", workflow_id="wf-1", created_at=T0))
        await _until(lambda: len(sleep.sleeps) == 1)
        hurry = asyncio.ensure_future(
            watcher.wait(
                "hurry", workflow_id="wf-1", created_at=T0, deadline=T0 + timedelta(seconds=1)
            )
        )
        # Woken without the gate opening: a tick now (the lone run was read with GET, the
        # two are listed together), then a pause only up to the deadline.
        await _until(lambda: len(sleep.sleeps) == 2)
        assert sleep.sleeps == [POLL, 1.0]
        assert (sim.gets, len(sim.lists)) == (["slow"], 1)
        sleep.gate.set()
        with pytest.raises(RunTimeoutError):
            await asyncio.wait_for(hurry, 5)
        slow.cancel()
