"""`HubLoop`: one event loop on a daemon thread that serves coroutines of any thread.

The loop outlives no process state it cannot rebuild: a forked child starts a loop of its own
on first use (`after_fork`), a waiter whose loop thread dies or stops gets a
`HubStoppedError` instead of blocking for ever, and `shutdown` (registered with `atexit` by
the watch hub) cancels what still runs, lets a subclass close its resources (`_stop_all`)
and stops the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from cyberdesk_core._hub_futures import SHUT_DOWN, THREAD_STOPPED, HubFuture, LoopWaker

__all__ = ["HubLoop"]

T = TypeVar("T")

# How long interpreter exit waits for the hub to close its watchers (and their clients).
SHUTDOWN_SECONDS = 2.0


class HubLoop:
    """The process-wide event loop thread; `submit` runs a coroutine on it."""

    def __init__(self, thread_name: str) -> None:
        self.thread_name = thread_name
        self.waker = LoopWaker()
        self._pending: set[HubFuture[Any]] = set()
        self._reset()

    def after_fork(self) -> None:
        """Forget the parent's loop in a forked child (registered with `os.register_at_fork`).

        The parent's waits are served by a thread the child does not have. They are not
        failed here: their locks may have been held by a parent thread at fork time. A child
        that awaits one gets `HubStoppedError` from `HubFuture.check_served`.
        """
        self._pending = set()
        self.waker.reset()
        self._reset()

    def _reset(self) -> None:
        # A forked child gets a fresh lock (the parent's may have been held by another
        # thread at fork time) and no loop, thread or pending work of the parent.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._inbox: list[tuple[Coroutine[Any, Any, Any], HubFuture[Any]]] = []
        self._wake_pending = False
        self._bookkeeping = contextvars.Context()
        self._on_new_loop()

    def _on_new_loop(self) -> None:
        """Forget per-loop state (called with the lock held when a new loop starts)."""

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<{type(self).__name__} pid={self._pid} running={alive}>"

    def _running_loop(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            # A forked child inherits the object but not the thread.
            if self._loop is None or self._thread is None or not alive or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._serve, args=(loop,), name=self.thread_name, daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                # The context of the hub's own done-callbacks, which read and set no context
                # variables: asyncio would otherwise copy the current context for each one.
                # Only this loop's thread enters it.
                self._bookkeeping = contextvars.Context()
                self._inbox, self._wake_pending = [], False
                self._on_new_loop()
            return self._loop, self._thread

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """The hub thread: run the loop; when it stops, fail the waits it left pending."""
        try:
            loop.run_forever()
        finally:
            with self._lock:
                stranded = [f for f in self._pending if f.thread is threading.current_thread()]
                self._pending.difference_update(stranded)
            for future in stranded:
                future.fail(THREAD_STOPPED)

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread of this process, if it was started."""
        return self._thread if self._pid == os.getpid() else None

    def submit(self, coro: Coroutine[Any, Any, T]) -> HubFuture[T]:
        """Run `coro` on the hub's loop; cancelling the future cancels the coroutine.

        Like `asyncio.run_coroutine_threadsafe`, but many waits submitted together wake the
        hub's loop once rather than once each.
        """
        try:
            loop, thread = self._running_loop()
        except BaseException:
            coro.close()
            raise
        future: HubFuture[T] = HubFuture(thread, os.getpid())
        with self._lock:
            self._pending.add(future)
            self._inbox.append((coro, future))
            wake, self._wake_pending = not self._wake_pending, True
        if wake:
            loop.call_soon_threadsafe(self._start_submitted)
        return future

    def _start_submitted(self) -> None:
        with self._lock:
            inbox, self._inbox = self._inbox, []
            self._wake_pending = False
        for coro, future in inbox:
            # The future stays "pending" (not "running") until its outcome is copied: a
            # running concurrent future could no longer be cancelled by its waiter.
            if future.cancelled():
                coro.close()
                self._settled(future)
                continue
            task = asyncio.ensure_future(coro)
            task.add_done_callback(
                functools.partial(self._copy_outcome, future), context=self._bookkeeping
            )
            future.add_done_callback(functools.partial(_cancel_task, task))

    def _settled(self, future: HubFuture[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _copy_outcome(self, future: HubFuture[Any], task: asyncio.Task[Any]) -> None:
        self._settled(future)
        if task.cancelled():
            # Not cancelled by its waiter (that cancels the future first): the hub stopped.
            future.fail(SHUT_DOWN)
            return
        # Failed already when the loop had stopped (see `_serve`); or cancelled from its
        # waiting thread, which may happen at any moment, and then it stays so.
        if future.done() or not future.set_running_or_notify_cancel():
            return
        exception = task.exception()
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(task.result())

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Cancel every wait, close what the hub holds (`_stop_all`), stop the loop thread.

        A later `submit` starts a new loop.
        """
        with self._lock:
            loop, thread, pid = self._loop, self._thread, self._pid
            self._loop = self._thread = None
            pending, self._inbox = self._inbox, []
        for coro, future in pending:
            coro.close()
            self._settled(future)
            future.fail(SHUT_DOWN)
        if loop is None or thread is None or pid != os.getpid() or not thread.is_alive():
            return
        stopping = asyncio.run_coroutine_threadsafe(self._stop_all(), loop)
        with contextlib.suppress(Exception):
            stopping.result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    async def _stop_all(self) -> None:
        """Cancel every other task of the hub's loop (on the loop)."""
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _cancel_task(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    # Called in whichever thread cancelled the future; the task belongs to the hub's loop.
    if future.cancelled() and not task.done():
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            task.get_loop().call_soon_threadsafe(task.cancel)
