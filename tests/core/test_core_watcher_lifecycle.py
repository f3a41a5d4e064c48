"""RunWatcher: errors, deadlines, callbacks, cancellation, closing and the shared registry."""

from __future__ import annotations

import asyncio
import gc
import weakref

import httpx
import pytest
from core_fakes import T0, FakeClock
from watcher_sim import POLL, SimServer, make_watcher

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AuthenticationError,
    CyberdeskError,
    Run,
    RunStatus,
    RunWatcher,
)
from cyberdesk_core import watcher as watcher_module
from cyberdesk_core.waiting import await_run


async def test_permanent_and_transient_errors(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("ok", finish_after=11)
    sim.add("flaky", finish_after=11)
    sim.get_status["denied"] = 401
    sim.get_status["flaky"] = 503
    async with make_watcher(sim_client, clock) as watcher:
        task = asyncio.gather(
            watcher.wait("ok"),
            watcher.wait("denied"),
            watcher.wait("flaky"),
            return_exceptions=True,
        )
        await clock.asleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        del sim.get_status["flaky"]
        ok_run, denied, flaky = await task
    assert isinstance(ok_run, Run)
    assert isinstance(denied, AuthenticationError)
    assert isinstance(flaky, Run)
    assert flaky.status is RunStatus.SUCCESS
    assert sim.gets.count("denied") == 1


async def test_interval_backs_off_while_api_is_failing(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=200)
    sim.get_status["a"] = 503

    async def sleep(seconds: float) -> None:
        await clock.asleep(seconds)
        if len(clock.sleeps) == 6:
            del sim.get_status["a"]  # the API recovers

    watcher = RunWatcher(
        sim_client, poll_interval=POLL, max_poll_interval=30.0, clock=clock, sleep=sleep
    )
    async with watcher:
        run = await watcher.wait("a")
    assert clock.sleeps[:6] == [10.0, 20.0, 30.0, 30.0, 30.0, 30.0]
    assert run.status is RunStatus.SUCCESS
    assert clock.sleeps[-1] == POLL  # healthy again: back to poll_interval


async def test_not_found_grace_then_error(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    async with make_watcher(sim_client, clock, not_found_grace=12.0) as watcher:
        with pytest.raises(CyberdeskError, match="not found"):
            await watcher.wait("never-created")
    assert sim.gets.count("never-created") == 4  # t=0, 5, 10 tolerated; t=15 raises


async def test_list_rejected_falls_back_to_get(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=6)
    sim.add("b", finish_after=6)
    sim.list_status = 422
    async with make_watcher(sim_client, clock) as watcher:
        runs = await asyncio.gather(
            watcher.wait("a", workflow_id="wf-1", created_at=T0),
            watcher.wait("b", workflow_id="wf-1", created_at=T0),
        )
    assert {r.id for r in runs} == {"a", "b"}
    assert len(sim.lists) == 1


async def test_list_auth_error_fails_group(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a")
    sim.add("b")
    sim.list_status = 401
    async with make_watcher(sim_client, clock) as watcher:
        results = await asyncio.gather(
            watcher.wait("a", workflow_id="wf-1", created_at=T0),
            watcher.wait("b", workflow_id="wf-1", created_at=T0),
            return_exceptions=True,
        )
    assert all(isinstance(r, AuthenticationError) for r in results)


async def test_cancelled_waiter_stops_polling(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=1000)
    watcher = make_watcher(sim_client, clock)
    task = asyncio.ensure_future(watcher.wait("a"))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(5):
        await asyncio.sleep(0)
    polled = len(sim.gets)
    assert watcher.watched_run_ids == frozenset()
    assert watcher._task is None or watcher._task.done()
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(sim.gets) == polled
    await watcher.aclose()


async def test_aclose_fails_pending_waiters(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=1000)
    watcher = make_watcher(sim_client, clock)
    task = asyncio.ensure_future(watcher.wait("a"))
    await asyncio.sleep(0)
    await watcher.aclose()
    with pytest.raises(CyberdeskError, match="closed"):
        await task
    with pytest.raises(CyberdeskError, match="closed"):
        await watcher.wait("a")


async def test_callback_error_goes_to_its_waiter(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=6)

    def boom(run: Run) -> None:
        raise ValueError("callback failed")

    async with make_watcher(sim_client, clock) as watcher:
        bad, good = await asyncio.gather(
            watcher.wait("a", on_status_change=boom), watcher.wait("a"), return_exceptions=True
        )
    assert isinstance(bad, ValueError)
    assert isinstance(good, Run)
    assert good.status is RunStatus.SUCCESS


async def test_await_run_delegates_to_watcher(
    sim: SimServer, sim_client: AsyncCyberdeskClient, clock: FakeClock
) -> None:
    sim.add("a", finish_after=6, outcome="cancelled")
    sim.add("b", finish_after=6)
    async with make_watcher(sim_client, clock) as watcher:
        results = await asyncio.gather(
            await_run(
                sim_client, "a", watcher=watcher, clock=clock, workflow_id="wf-1", created_at=T0
            ),
            await_run(
                sim_client, "b", watcher=watcher, clock=clock, workflow_id="wf-1", created_at=T0
            ),
            return_exceptions=True,
        )
    from cyberdesk_core import RunCancelledError

    assert isinstance(results[0], RunCancelledError)
    assert isinstance(results[1], Run)
    assert len(sim.lists) >= 1


async def test_shared_registry_per_loop_and_key(sim: SimServer, clock: FakeClock) -> None:
    made: list[AsyncCyberdeskClient] = []

    def factory() -> AsyncCyberdeskClient:
        c = AsyncCyberdeskClient("k", base_url="https://sim", transport=httpx.MockTransport(sim))
        made.append(c)
        return c

    opts = {"poll_interval": POLL, "clock": clock, "sleep": clock.asleep}
    w1 = RunWatcher.shared(("conn", 1), factory, **opts)
    w2 = RunWatcher.shared(("conn", 1), factory, **opts)
    w3 = RunWatcher.shared(("conn", 2), factory, **opts)
    assert w1 is w2
    assert w1 is not w3
    assert len(made) == 2
    sim.add("a", finish_after=6)
    assert (await w1.wait("a")).status is RunStatus.SUCCESS
    for _ in range(10):
        await asyncio.sleep(0)
    # Idle: retired, removed from the registry, owned client closed.
    assert made[0]._transport.http.is_closed
    w4 = RunWatcher.shared(("conn", 1), factory, **opts)
    assert w4 is not w1
    assert len(made) == 3
    await w3.aclose()
    await w4.aclose()
    loop = asyncio.get_running_loop()
    assert loop not in watcher_module._SHARED


def test_shared_registry_does_not_keep_loops_alive(sim: SimServer) -> None:
    clock = FakeClock()
    sim.clock = clock
    sim.add("a", finish_after=6)

    def factory() -> AsyncCyberdeskClient:
        return AsyncCyberdeskClient("k", base_url="https://sim", transport=httpx.MockTransport(sim))

    async def finished_wait() -> None:
        w = RunWatcher.shared("k", factory, clock=clock, sleep=clock.asleep)
        await w.wait("a")

    loop = asyncio.new_event_loop()
    loop.run_until_complete(finished_wait())
    ref = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert ref() is None

    # A closed loop whose watcher never retired is purged by the next shared() call.
    dead = asyncio.new_event_loop()
    dead.close()
    watcher_module._SHARED[dead] = {"k": RunWatcher(factory())}
    asyncio.run(finished_wait())
    assert dead not in watcher_module._SHARED
    assert not any(lp.is_closed() for lp in watcher_module._SHARED)


async def test_shared_factory_may_return_a_watcher(sim_client: AsyncCyberdeskClient) -> None:
    mine = RunWatcher(sim_client)
    assert RunWatcher.shared("own", lambda: mine) is mine
    await mine.aclose()
