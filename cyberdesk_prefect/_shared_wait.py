"""Every wait of a process shares polling: one `RunWatcher` per credentials, on one loop.

Prefect runs each mapped task in a worker thread, and each async task there in an event
loop of its own (`asyncio.run` per task), so a watcher per caller loop would serve one wait
each. Instead one daemon thread hosts an event loop for the whole process; the sync and the
async waits both register with the `RunWatcher.shared(...)` of that loop for their
credentials, and many runs of one workflow or session are then read with a few list calls
per interval instead of one GET per run.

A run created by the task is registered with its `workflow_id` / `session_id` /
`created_at`, so it is batched from the first poll. A bare run id (a wait task given only an
id) is first looked up in one listing of the organization's most recent runs shared by all
the waits that start together; one not found there is read with GET until the watcher
learns its workflow.

Status callbacks run on the hub's loop, inside a copy of the caller's context, so Prefect's
run logger and events still see the task run they belong to.

The hub outlives no process state it cannot rebuild: a forked child (a Prefect process
worker, `multiprocessing`) starts a loop of its own on first use, a waiter whose thread dies
or whose loop stops gets a `CyberdeskError` instead of blocking for ever, and the loop is
stopped (its watchers closed) when the interpreter exits.

Async waits cost the caller's loop one wake-up per batch of results, not one per wait: the
hub hands finished waits to each caller loop in one call (`LoopWaker`), and an async wait
needs no timer of its own: the hub fails its pending waits when it shuts down or its thread
stops, and a wait carried over a fork fails as soon as it is awaited.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import functools
import hashlib
import hmac
import os
import secrets
import threading
import weakref
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from cyberdesk_core.errors import CyberdeskError
from cyberdesk_prefect._recent_runs import RecentRuns
from cyberdesk_prefect._runner_cancel import raise_if_cancelled, task_cancel_event

if TYPE_CHECKING:
    from cyberdesk_core import Run, RunWatcher
    from cyberdesk_prefect.credentials import CyberdeskCredentials

T = TypeVar("T")

# A blocked sync wait wakes this often, so an exception Prefect injects into its thread (a
# task timeout, a cancellation) is raised within that time.
_SYNC_WAKE_SECONDS = 0.5
# How long interpreter exit waits for the hub to close its watchers (and their clients).
_SHUTDOWN_SECONDS = 2.0
# Keys the credentials digest: a registry key never lets anyone test a guessed API key.
_KEY_SALT = secrets.token_bytes(16)


@dataclass(frozen=True)
class RunHints:
    """What lets the watcher poll a run together with its siblings."""

    workflow_id: str | None = None
    session_id: str | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, run: Run) -> RunHints:
        """The hints a run object carries."""
        return cls(str(run.workflow_id), run.session_id, run.created_at)

    @property
    def groupable(self) -> bool:
        """True when the watcher can list this run with others."""
        return self.created_at is not None and bool(self.workflow_id or self.session_id)


def watch_key(
    credentials: CyberdeskCredentials, poll_interval: float, max_poll_interval: float | None = None
) -> Hashable:
    """Registry key of a shared watcher: never the API key itself, only a keyed digest.

    A rotated API key gives another key, so its waits get a watcher (and a client) of their
    own; the old watcher retires once its last wait ends. Waits share a watcher only when
    it polls them as they asked: same interval and same back-off bound (`None`: no back-off
    beyond `poll_interval`).
    """
    secret = credentials.api_key.get_secret_value().encode()
    digest = hmac.new(_KEY_SALT, secret, hashlib.sha256).hexdigest()
    return (
        "cyberdesk_prefect",
        credentials.base_url,
        digest,
        credentials.timeout,
        credentials.max_retries,
        poll_interval,
        max(max_poll_interval or poll_interval, poll_interval),
    )


_SHUT_DOWN = (
    "The Cyberdesk run watcher was shut down (the interpreter is exiting) before the run "
    "ended; the run was not watched to its end."
)
_THREAD_STOPPED = (
    "The Cyberdesk run watcher thread stopped before the run ended (the interpreter is "
    "exiting, or the thread died); the run was not watched to its end."
)
_FORKED = (
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
            raise HubStoppedError(_FORKED)
        if not self.thread.is_alive():
            raise HubStoppedError(_THREAD_STOPPED)

    def fail(self, message: str) -> None:
        """Fail the wait with `HubStoppedError(message)` unless it already has an outcome."""
        # Pending until here (see `WatchHub._start_submitted`), so only a cancelled or
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


class WatchHub:
    """The process-wide event loop thread that hosts the shared watchers."""

    def __init__(self) -> None:
        self.waker = LoopWaker()
        self._pending: set[HubFuture[Any]] = set()
        self._reset()

    def _after_fork(self) -> None:
        # The parent's waits are served by a thread the child does not have. They are not
        # failed here: their locks may have been held by a parent thread at fork time. A
        # child that awaits one gets `HubStoppedError` from `check_served`.
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
        self._recent: dict[Hashable, RecentRuns] = {}
        # The shared watchers this hub used, so interrupted ones can be closed at exit.
        self._watchers: weakref.WeakSet[RunWatcher] = weakref.WeakSet()
        self._inbox: list[tuple[Coroutine[Any, Any, Any], HubFuture[Any]]] = []
        self._wake_pending = False
        self._bookkeeping = contextvars.Context()

    def __repr__(self) -> str:
        alive = self._thread is not None and self._thread.is_alive()
        return f"<WatchHub pid={self._pid} running={alive}>"

    def _running_loop(self) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            # A forked child inherits the object but not the thread.
            if self._loop is None or self._thread is None or not alive or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._serve, args=(loop,), name="cyberdesk-run-watcher", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                # The context of the hub's own done-callbacks, which read and set no context
                # variables: asyncio would otherwise copy the current context for each one.
                # Only this loop's thread enters it.
                self._bookkeeping = contextvars.Context()
                self._recent, self._inbox, self._wake_pending = {}, [], False
                self._watchers = weakref.WeakSet()
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
                future.fail(_THREAD_STOPPED)

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread of this process, if it was started."""
        return self._thread if self._pid == os.getpid() else None

    def watched_run_ids(self, timeout: float = 10.0) -> frozenset[str]:
        """Ids of the runs the hub's watchers poll right now (for diagnostics and tests)."""
        if self.thread is None or not self.thread.is_alive():
            return frozenset()

        async def collect() -> frozenset[str]:
            return frozenset(i for w in list(self._watchers) for i in w.watched_run_ids)

        return self.submit(collect()).result(timeout)

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
            future.fail(_SHUT_DOWN)
            return
        # Failed already when the loop had stopped (see `_serve`); or cancelled from its
        # waiting thread, which may happen at any moment, and then it stays so.
        if future.done() or not future.set_running_or_notify_cancel():
            return
        if task.exception() is not None:
            future.set_exception(task.exception())
        else:
            future.set_result(task.result())

    def shutdown(self, timeout: float = _SHUTDOWN_SECONDS) -> None:
        """Cancel every wait, close the watchers (and their clients), stop the loop thread.

        Registered with `atexit`; a later `submit` starts a new loop.
        """
        with self._lock:
            loop, thread, pid = self._loop, self._thread, self._pid
            self._loop = self._thread = None
            pending, self._inbox = self._inbox, []
        for coro, future in pending:
            coro.close()
            self._settled(future)
            future.fail(_SHUT_DOWN)
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
        """Cancel every other task of the hub's loop, then close the watchers (on the loop)."""
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A watcher whose polling task was cancelled before its waiters left keeps its
        # client open: close each one explicitly.
        for watcher in list(self._watchers):
            with contextlib.suppress(Exception):
                await watcher.aclose()

    def _recent_runs(self, key: Hashable, credentials: CyberdeskCredentials) -> RecentRuns:
        now = asyncio.get_running_loop().time()
        # Drop the finders of credentials no longer in use (a rotated key, a one-off
        # interval): each holds its credentials block.
        for stale in [k for k, f in self._recent.items() if k != key and f.idle(now)]:
            del self._recent[stale]
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = RecentRuns(credentials.get_async_client)
        return recent

    async def watch(
        self,
        credentials: CyberdeskCredentials,
        run_id: str,
        *,
        poll_interval: float,
        max_poll_interval: float,
        hints: RunHints | None,
        deadline: datetime | None,
        on_status_change: Callable[[Run], None],
    ) -> Run:
        """Wait (on the hub's loop) until `run_id` is terminal; see `RunWatcher.wait`.

        Cyberdesk errors (a failed poll, the deadline) are raised as they are; anything else
        going wrong in the hub is raised as a `CyberdeskError` naming the run, chained to the
        original exception.
        """
        try:
            return await self._watch(
                credentials,
                run_id,
                poll_interval=poll_interval,
                max_poll_interval=max_poll_interval,
                hints=hints,
                deadline=deadline,
                on_status_change=on_status_change,
            )
        except CyberdeskError:
            raise
        except Exception as exc:
            raise CyberdeskError(
                f"Waiting for Cyberdesk run {run_id} failed in the shared run watcher: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    async def _watch(
        self,
        credentials: CyberdeskCredentials,
        run_id: str,
        *,
        poll_interval: float,
        max_poll_interval: float,
        hints: RunHints | None,
        deadline: datetime | None,
        on_status_change: Callable[[Run], None],
    ) -> Run:
        from cyberdesk_core import RunWatcher

        max_poll_interval = max(max_poll_interval, poll_interval)
        key = watch_key(credentials, poll_interval, max_poll_interval)
        if hints is None or not hints.groupable:
            listed = await self._recent_runs(key, credentials).find(run_id)
            hints = RunHints(*listed) if listed is not None else hints or RunHints()
        # Nothing is awaited between taking the shared watcher and registering with it, so it
        # cannot retire (and refuse this wait) in between.
        watcher: RunWatcher = RunWatcher.shared(
            key,
            credentials.get_async_client,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
        )
        self._watchers.add(watcher)
        return await watcher.wait(
            run_id,
            workflow_id=hints.workflow_id,
            session_id=hints.session_id,
            created_at=hints.created_at,
            deadline=deadline,
            on_status_change=on_status_change,
        )


def _cancel_task(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    # Called in whichever thread cancelled the future; the task belongs to the hub's loop.
    if future.cancelled() and not task.done():
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            task.get_loop().call_soon_threadsafe(task.cancel)


HUB = WatchHub()
atexit.register(HUB.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HUB._after_fork)


def deadline_after(timeout: float | None) -> datetime | None:
    """The absolute deadline `timeout` seconds from now (None: no deadline)."""
    if timeout is None:
        return None
    return datetime.now(timezone.utc) + timedelta(seconds=timeout)


def in_caller_context(callback: Callable[[Run], None]) -> Callable[[Run], None]:
    """`callback`, run in a copy of the current context wherever it is called from."""
    context = contextvars.copy_context()

    def call(run: Run) -> None:
        context.run(callback, run)

    return call


def wait_on_hub(future: HubFuture[T]) -> T:
    """Block until `future` is done, waking up regularly; cancel it if interrupted (also by
    the task runner cancelling the task run, see `_runner_cancel`)."""
    cancelled = task_cancel_event()
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=_SYNC_WAKE_SECONDS)
            future.check_served()
            raise_if_cancelled(cancelled)
        return future.result()
    finally:
        # An interrupted wait must not leave its registration behind in the shared watcher.
        future.cancel()


async def await_on_hub(future: HubFuture[T]) -> T:
    """Await `future` from any event loop; cancelling the awaiting task cancels it too.

    No timer is needed: the hub fails its pending waits when it shuts down or its thread
    stops, and `check_served` refuses a wait carried over a fork. Only inside a task run of
    a thread-pool task runner does it wake regularly, to see the runner cancel it.
    """
    cancelled = task_cancel_event()
    try:
        future.check_served()
        waiter = HUB.waker.wake_when_done(future)
        if cancelled is None:
            await waiter
        else:
            # In a task runner's thread: look at its cancel event as a sync wait does.
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=_SYNC_WAKE_SECONDS)
                raise_if_cancelled(cancelled)
        return future.result()
    finally:
        future.cancel()
