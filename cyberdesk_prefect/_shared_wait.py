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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from cyberdesk_core.errors import CyberdeskError

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, Run, RunWatcher
    from cyberdesk_prefect.credentials import CyberdeskCredentials

T = TypeVar("T")
logger = logging.getLogger("cyberdesk_prefect")

# A blocked sync wait wakes this often, so an exception Prefect injects into its thread (a
# task timeout, a cancellation) is raised within that time.
_SYNC_WAKE_SECONDS = 0.5
# One page of the most recent runs: the largest page the API serves.
_RECENT_PAGE = 1000
# How long waits that start together are collected before recent runs are listed for them.
_GATHER_SECONDS = 0.05
# How long a listing of recent runs answers later lookups.
_LISTING_TTL = 30.0


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


def watch_key(credentials: CyberdeskCredentials, poll_interval: float) -> Hashable:
    """Registry key of a shared watcher: never the API key itself, only its digest."""
    digest = hashlib.sha256(credentials.api_key.get_secret_value().encode()).hexdigest()
    return (
        "cyberdesk_prefect",
        credentials.base_url,
        digest,
        credentials.timeout,
        credentials.max_retries,
        poll_interval,
    )


class _RecentRuns:
    """Finds bare run ids in a listing of recent runs, shared by waits that start together.

    The latest listing is kept for a while: waits that arrive a little later (a large map
    reaches the hub over several loop iterations) usually find their run in it without a
    request. A run's workflow, session and creation time do not change, and they are only
    hints anyway: the watcher reads a run it cannot find by listing with GET.
    """

    def __init__(self, make_client: Callable[[], AsyncCyberdeskClient]) -> None:
        self._make_client = make_client
        self._pending: dict[str, list[asyncio.Future[Run | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, Run] = {}
        self._known_at = 0.0
        # Off once a full page of recent runs held none of the runs asked for (a busy
        # organization, or old runs): a GET per run is cheaper than a page per batch then.
        self._enabled = True

    async def find(self, run_id: str) -> Run | None:
        """The run as listed among the most recent runs, or None."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._known_at < _LISTING_TTL and run_id in self._known:
            return self._known[run_id]
        if not self._enabled:
            return None
        future: asyncio.Future[Run | None] = loop.create_future()
        self._pending.setdefault(run_id, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            async with self._make_client() as client:
                # Waits submitted together reach this loop over a few iterations: let them in.
                await asyncio.sleep(_GATHER_SECONDS)
                while self._pending and self._enabled:
                    batch, self._pending = self._pending, {}
                    missing = {i: f for i, f in batch.items() if i not in self._known}
                    if missing:
                        await self._list(client, missing)
                    _settle(batch, self._known)
        finally:
            batch, self._pending = self._pending, {}
            _settle(batch, {})

    async def _list(
        self, client: AsyncCyberdeskClient, batch: dict[str, list[asyncio.Future[Run | None]]]
    ) -> None:
        try:
            page = await client.runs.list(
                sort_mode="created_at_desc", fields=["session_id"], limit=_RECENT_PAGE
            )
        except CyberdeskError as exc:
            # The watcher reads these runs with GET instead; nothing is lost but batching.
            logger.debug("Listing recent runs failed (%s); polling the runs one by one.", exc)
            return
        self._known = {str(run.id): run for run in page.items}
        self._known_at = asyncio.get_running_loop().time()
        if len(page.items) >= _RECENT_PAGE and not any(i in self._known for i in batch):
            self._enabled = False


def _settle(batch: dict[str, list[asyncio.Future[Run | None]]], found: dict[str, Run]) -> None:
    for run_id, futures in batch.items():
        for future in futures:
            if not future.done():
                future.set_result(found.get(run_id))


class WatchHub:
    """The process-wide event loop thread that hosts the shared watchers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._recent: dict[Hashable, _RecentRuns] = {}
        self._inbox: list[tuple[Coroutine[Any, Any, Any], concurrent.futures.Future[Any]]] = []
        self._wake_pending = False

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            # A forked child inherits the object but not the thread.
            if self._loop is None or not alive or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="cyberdesk-run-watcher", daemon=True
                )
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
                self._recent, self._inbox, self._wake_pending = {}, [], False
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the hub's loop; cancelling the future cancels the coroutine.

        Like `asyncio.run_coroutine_threadsafe`, but many waits submitted together wake the
        hub's loop once rather than once each.
        """
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        loop = self._running_loop()
        with self._lock:
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
            if not future.set_running_or_notify_cancel():
                coro.close()
                continue
            task = asyncio.ensure_future(coro)
            task.add_done_callback(functools.partial(_copy_outcome, future))
            future.add_done_callback(functools.partial(_cancel_task, task))

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
        """Wait (on the hub's loop) until `run_id` is terminal; see `RunWatcher.wait`."""
        from cyberdesk_core import RunWatcher

        key = watch_key(credentials, poll_interval)
        if hints is None or not hints.groupable:
            recent = self._recent.get(key)
            if recent is None:
                recent = self._recent[key] = _RecentRuns(credentials.get_async_client)
            listed = await recent.find(run_id)
            hints = RunHints.of(listed) if listed is not None else hints or RunHints()
        # Nothing is awaited between taking the shared watcher and registering with it, so it
        # cannot retire (and refuse this wait) in between.
        watcher: RunWatcher = RunWatcher.shared(
            key,
            credentials.get_async_client,
            poll_interval=poll_interval,
            max_poll_interval=max(max_poll_interval, poll_interval),
        )
        return await watcher.wait(
            run_id,
            workflow_id=hints.workflow_id,
            session_id=hints.session_id,
            created_at=hints.created_at,
            deadline=deadline,
            on_status_change=on_status_change,
        )


def _copy_outcome(future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if future.cancelled():
        return
    # The future may be cancelled from its waiting thread at any moment; then it stays so.
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())
        else:
            future.set_result(task.result())


def _cancel_task(task: asyncio.Task[Any], future: concurrent.futures.Future[Any]) -> None:
    # Called in whichever thread cancelled the future; the task belongs to the hub's loop.
    if future.cancelled() and not task.done():
        task.get_loop().call_soon_threadsafe(task.cancel)


HUB = WatchHub()


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


def wait_on_hub(future: concurrent.futures.Future[T]) -> T:
    """Block until `future` is done, waking up regularly; cancel it if interrupted."""
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=_SYNC_WAKE_SECONDS)
        return future.result()
    finally:
        # An interrupted wait must not leave its registration behind in the shared watcher.
        future.cancel()


async def await_on_hub(future: concurrent.futures.Future[T]) -> T:
    """Await `future` from any event loop; cancelling the awaiting task cancels it too."""
    try:
        return await asyncio.wrap_future(future)
    finally:
        future.cancel()
