"""What a wait submitted to the watch hub is, and how a caller blocks or awaits it.

`HubFuture` is a concurrent future that knows the loop thread and the process serving it, so
a waiter learns at once (instead of blocking for ever) that nothing will finish it: the hub's
thread died, or the wait was carried over a fork. `LoopWaker` hands many finished waits to
each caller event loop in one call. `block_on` and `await_done` are the sync and the async
way to wait for a `HubFuture`; an engine passes an `Interrupt` when its runner can cancel a
wait by other means than an exception in the waiting thread (see `cyberdesk_prefect`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from cyberdesk_core.errors import CyberdeskError

__all__ = [
    "FORKED",
    "SHUT_DOWN",
    "THREAD_STOPPED",
    "HubFuture",
    "HubStoppedError",
    "Interrupt",
    "LoopWaker",
    "await_done",
    "block_on",
]

T = TypeVar("T")

#: Called by a waiter each time it wakes up; raises to abandon the wait (e.g. when an engine's
#: task runner has cancelled the task the wait belongs to).
Interrupt = Callable[[], None]

# A blocked sync wait wakes this often, so an exception the engine injects into its thread (a
# task timeout, a cancellation) or an `Interrupt` is seen within that time.
WAKE_SECONDS = 0.5

SHUT_DOWN = (
    "The Cyberdesk run watcher was shut down (the interpreter is exiting) before the run "
    "ended; the run was not watched to its end."
)
THREAD_STOPPED = (
    "The Cyberdesk run watcher thread stopped before the run ended (the interpreter is "
    "exiting, or the thread died); the run was not watched to its end."
)
FORKED = (
    "This Cyberdesk wait was started in another process (before a fork); start the wait "
    "again in this process."
)


class HubStoppedError(CyberdeskError):
    """The hub's event loop stopped (or its process forked) before a wait ended."""


class HubFuture(concurrent.futures.Future[T]):
    """A wait submitted to the hub; knows the loop thread and process that serve it."""

    def __init__(self, thread: threading.Thread, pid: int) -> None:
        super().__init__()
        self.thread = thread
        self.pid = pid

    def check_served(self) -> None:
        """Raise `HubStoppedError` when nothing will ever finish this future."""
        if self.done():
            return
        if self.pid != os.getpid():
            raise HubStoppedError(FORKED)
        if not self.thread.is_alive():
            raise HubStoppedError(THREAD_STOPPED)

    def fail(self, message: str) -> None:
        """Fail the wait with `HubStoppedError(message)` unless it already has an outcome."""
        # Pending until here (see `HubLoop._start_submitted`), so only a cancelled or
        # finished future refuses.
        with contextlib.suppress(RuntimeError, concurrent.futures.InvalidStateError):
            if self.set_running_or_notify_cancel():
                self.set_exception(HubStoppedError(message))


class LoopWaker:
    """Wakes the async waits of many event loops, one call per loop for a batch of results.

    `asyncio.wrap_future` would call `call_soon_threadsafe` (one write to the loop's wake-up
    pipe, one loop iteration) for every wait that ends; 1,000 runs ending in one poll then
    cost the caller's loop 1,000 wake-ups.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every batch (and take a fresh lock): the fork handler of a child."""
        self._lock = threading.Lock()
        self._ready: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}

    def wake_when_done(self, future: HubFuture[Any]) -> asyncio.Future[None]:
        """A future of the running loop that gets its result once `future` is done."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(functools.partial(self._wake, loop, waiter))
        return waiter

    def _wake(
        self,
        loop: asyncio.AbstractEventLoop,
        waiter: asyncio.Future[None],
        _done: concurrent.futures.Future[Any],
    ) -> None:
        # Called in the thread that finished the future: the hub's, or a cancelling caller's.
        with self._lock:
            batch = self._ready.get(loop)
            if batch is not None:
                batch.append(waiter)
                return
            self._ready[loop] = [waiter]
        try:
            loop.call_soon_threadsafe(self._flush, loop)
        except RuntimeError:  # the caller's loop is closed: nobody waits any more
            with self._lock:
                self._ready.pop(loop, None)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            batch = self._ready.pop(loop, [])
        for waiter in batch:
            if not waiter.done():
                waiter.set_result(None)


def block_on(future: HubFuture[T], interrupt: Interrupt | None = None) -> T:
    """Block until `future` is done, waking up regularly; cancel it if interrupted.

    Waking up lets an exception injected into this thread be raised, `check_served` notice a
    hub that will never answer, and `interrupt` (if given) abandon the wait.
    """
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=WAKE_SECONDS)
            future.check_served()
            if interrupt is not None:
                interrupt()
        return future.result()
    finally:
        # An interrupted wait must not leave its registration behind in the shared watcher.
        future.cancel()


async def await_done(
    future: HubFuture[T], waker: LoopWaker, interrupt: Interrupt | None = None
) -> T:
    """Await `future` from any event loop; cancelling the awaiting task cancels it too.

    No timer is needed: the hub fails its pending waits when it shuts down or its thread
    stops, and `check_served` refuses a wait carried over a fork. Only with an `interrupt`
    does it wake regularly, to call it.
    """
    try:
        future.check_served()
        waiter = waker.wake_when_done(future)
        if interrupt is None:
            await waiter
        else:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=WAKE_SECONDS)
                interrupt()
        return future.result()
    finally:
        future.cancel()
