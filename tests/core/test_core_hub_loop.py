"""The hub's loop thread and futures without any engine or server: fork, stop, wake-ups."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cyberdesk_core._hub_futures import HubFuture, HubStoppedError, LoopWaker, await_done, block_on
from cyberdesk_core.watch_hub import HUB, WatchHub


@pytest.fixture
def hub() -> Iterator[WatchHub]:
    """A hub of its own (not the process's), shut down after the test."""
    own = WatchHub()
    yield own
    own.shutdown()


async def _forever() -> None:
    await asyncio.Event().wait()


def _started(hub: WatchHub) -> None:
    """Wait until the hub's loop has taken up what was submitted."""
    end = time.monotonic() + 5
    while hub._inbox or hub._wake_pending:
        assert time.monotonic() < end, "the hub did not start the submitted waits"
        time.sleep(0.01)


def test_submitted_coroutines_run_on_the_hub_thread(hub: WatchHub) -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert block_on(hub.submit(where())) == "cyberdesk-run-watcher"
    assert hub.thread is not None
    assert hub.thread.daemon


def test_shutdown_fails_every_pending_wait(hub: WatchHub) -> None:
    waits = [hub.submit(_forever()) for _ in range(3)]
    _started(hub)
    hub.shutdown()
    for wait in waits:
        with pytest.raises(HubStoppedError, match="shut down"):
            wait.result(timeout=5)
    assert hub.thread is None or not hub.thread.is_alive()


def test_a_wait_submitted_after_shutdown_starts_a_new_loop(hub: WatchHub) -> None:
    async def answer() -> int:
        return 42

    assert block_on(hub.submit(answer())) == 42
    first = hub.thread
    hub.shutdown()
    assert block_on(hub.submit(answer())) == 42
    assert hub.thread is not None
    assert hub.thread is not first


def test_a_stopped_loop_fails_sync_waits_at_once(hub: WatchHub) -> None:
    wait = hub.submit(_forever())
    _started(hub)
    loop = hub._loop
    assert loop is not None
    loop.call_soon_threadsafe(loop.stop)
    started = time.monotonic()
    with pytest.raises(HubStoppedError, match="thread stopped"):
        block_on(wait)
    assert time.monotonic() - started < 5
    loop.run_until_complete(hub._stop_all())
    loop.close()


async def test_a_stopped_loop_fails_async_waits_at_once(hub: WatchHub) -> None:
    wait = hub.submit(_forever())
    await asyncio.to_thread(_started, hub)
    loop = hub._loop
    assert loop is not None
    loop.call_soon_threadsafe(loop.stop)
    with pytest.raises(HubStoppedError, match="thread stopped"):
        await asyncio.wait_for(await_done(wait, hub.waker), timeout=5)
    await asyncio.to_thread(loop.run_until_complete, hub._stop_all())
    loop.close()


def test_an_interrupt_abandons_a_blocked_wait_and_cancels_it(hub: WatchHub) -> None:
    wait = hub.submit(_forever())
    calls: list[int] = []

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise asyncio.CancelledError("cancelled by the runner")

    with pytest.raises(asyncio.CancelledError, match="by the runner"):
        block_on(wait, interrupt)
    assert wait.cancelled()


async def test_an_interrupt_abandons_an_awaited_wait_and_cancels_it(hub: WatchHub) -> None:
    wait = hub.submit(_forever())

    def interrupt() -> None:
        raise asyncio.CancelledError("cancelled by the runner")

    with pytest.raises(asyncio.CancelledError, match="by the runner"):
        await await_done(wait, hub.waker, interrupt)
    assert wait.cancelled()


def test_a_wait_carried_over_a_fork_fails_when_waited_for() -> None:
    # What a forked child holds: a wait whose process and thread are the parent's.
    carried: HubFuture[int] = HubFuture(threading.current_thread(), os.getpid() + 1)
    with pytest.raises(HubStoppedError, match="another process"):
        carried.check_served()
    with pytest.raises(HubStoppedError, match="another process"):
        block_on(carried)


async def test_an_awaited_wait_carried_over_a_fork_fails_at_once() -> None:
    carried: HubFuture[int] = HubFuture(threading.current_thread(), os.getpid() + 1)
    with pytest.raises(HubStoppedError, match="another process"):
        await await_done(carried, LoopWaker())


def test_after_fork_forgets_the_parent_loop_and_lock(hub: WatchHub) -> None:
    block_on(hub.submit(asyncio.sleep(0)))
    parent_thread, parent_loop = hub.thread, hub._loop
    # The fork handler runs in the child while a parent thread may hold the lock.
    held = hub._lock
    held.acquire()
    try:
        hub.after_fork()
    finally:
        held.release()
    assert hub._lock is not held
    assert hub.thread is None
    assert not hub._pending
    assert block_on(hub.submit(asyncio.sleep(0, result="child"))) == "child"
    assert hub.thread is not parent_thread
    # In a real child the parent's thread does not exist; here it is stopped by hand.
    assert parent_thread is not None
    assert parent_loop is not None
    parent_loop.call_soon_threadsafe(parent_loop.stop)
    parent_thread.join(5)
    parent_loop.close()


def _submit_in_child(answers: multiprocessing.Queue[Any]) -> None:
    thread = HUB.thread
    answers.put((block_on(HUB.submit(asyncio.sleep(0, result="child"))), thread is None))
    answers.close()
    answers.join_thread()
    os._exit(0)


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX only")
def test_a_forked_child_starts_a_hub_loop_of_its_own() -> None:
    block_on(HUB.submit(asyncio.sleep(0)))
    parent_thread = HUB.thread
    assert parent_thread is not None
    context = multiprocessing.get_context("fork")
    answers: multiprocessing.Queue[Any] = context.Queue()
    child = context.Process(target=_submit_in_child, args=(answers,))
    # Forked while this thread holds the hub's lock: the child must not inherit it held.
    with HUB._lock:
        child.start()
    try:
        answer, no_parent_thread = answers.get(timeout=60)
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0
    assert answer == "child"
    assert no_parent_thread
    assert HUB.thread is parent_thread


def _finished(future: HubFuture[int], value: int) -> None:
    future.set_running_or_notify_cancel()
    future.set_result(value)


def test_waits_of_several_loops_wake_each_loop_once_per_batch() -> None:
    waker = LoopWaker()
    flushes: list[asyncio.AbstractEventLoop] = []
    flush = waker._flush

    def counting_flush(loop: asyncio.AbstractEventLoop) -> None:
        flushes.append(loop)
        flush(loop)

    waker._flush = counting_flush  # type: ignore[method-assign]
    loops = [asyncio.new_event_loop() for _ in range(2)]
    futures: dict[asyncio.AbstractEventLoop, list[HubFuture[int]]] = {
        loop: [HubFuture(threading.current_thread(), os.getpid()) for _ in range(50)]
        for loop in loops
    }

    async def register(loop: asyncio.AbstractEventLoop) -> list[asyncio.Future[None]]:
        return [waker.wake_when_done(f) for f in futures[loop]]

    woken = {loop: loop.run_until_complete(register(loop)) for loop in loops}
    try:
        for loop in loops:
            for n, future in enumerate(futures[loop]):
                _finished(future, n)
        for loop in loops:
            loop.run_until_complete(asyncio.wait_for(asyncio.gather(*woken[loop]), 5))
        assert sorted(map(id, flushes)) == sorted(map(id, loops))
    finally:
        for loop in loops:
            loop.close()


def test_a_closed_caller_loop_is_not_woken() -> None:
    waker = LoopWaker()
    loop = asyncio.new_event_loop()
    future: HubFuture[int] = HubFuture(threading.current_thread(), os.getpid())

    async def register() -> asyncio.Future[None]:
        return waker.wake_when_done(future)

    loop.run_until_complete(register())
    loop.close()
    # Finishing the wait after its caller's loop closed raises nothing and keeps no batch.
    _finished(future, 1)
    assert not waker._ready
