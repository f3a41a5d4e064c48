"""`RunWatcher`: many concurrent waiters in one event loop share one polling task.

Each tick it reads runs it knows nothing about with GET and groups of runs of the same
workflow (or session) with paged `runs.list(..., fields=LIST_FIELDS, limit=1000)` calls. Two
or more groups (a group of one run included) are first looked for in one list of the
organization's recent runs; what that list misses is listed per group, and a run alone in its
group is read with GET. A run listed as finished is handed to its waiters as listed (every
field but `run_message_history`; read that with `runs.get` when needed). Finished runs leave
the watch list and are never polled again. Ticks start one interval apart, however long a
tick takes.

This module holds the waiter registry, the shared-watcher registry and the polling loop; what
one tick does is `_watch_polling.RunPolling`, and how a page is read is `_listing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cyberdesk_core._client_base import AsyncClosing
from cyberdesk_core._listing import LIST_FIELDS
from cyberdesk_core._waitcore import NOT_FOUND_GRACE, Clock, as_aware, utcnow
from cyberdesk_core._watch_polling import RunPolling
from cyberdesk_core._watch_state import StatusCallback, Tracked, Waiter
from cyberdesk_core.errors import CyberdeskError
from cyberdesk_core.inputs import validate_timeouts

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.models import Run
    from cyberdesk_core.narrator import RunNarrator

__all__ = ["DEFAULT_MAX_POLL_INTERVAL", "LIST_FIELDS", "RunWatcher", "StatusCallback"]

#: The longest pause between ticks while the API keeps failing transiently (the back-off bound).
DEFAULT_MAX_POLL_INTERVAL = 60.0

logger = logging.getLogger("cyberdesk_core")


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, RunWatcher]] = (
    weakref.WeakKeyDictionary()
)


class RunWatcher(AsyncClosing, RunPolling):
    """Coalesces polling for many waiters (async context manager; `aclose()` to stop)."""

    def __init__(
        self,
        aclient: AsyncCyberdeskClient,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        created_at_skew: float = 60.0,
        not_found_grace: float = NOT_FOUND_GRACE,
        max_concurrency: int = 8,
        page_size: int = 1000,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        owns_client: bool = False,
    ) -> None:
        validate_timeouts(poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self.client: AsyncCyberdeskClient = aclient
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        # Grows while the API keeps failing transiently (e.g. rate limits), never below
        # poll_interval; back to poll_interval after a clean tick.
        self._interval = poll_interval
        self._troubled = False
        self._skew = timedelta(seconds=created_at_skew)
        self._grace = not_found_grace
        self._max_concurrency = max_concurrency
        self._page_size = page_size
        # Many small groups are first looked for in one list of all recent runs; switched off
        # for good once that list holds too many unrelated runs to pay off (a busy organization).
        self._org_scan = True
        self._clock = clock or utcnow
        self._sleep = sleep or asyncio.sleep
        self._owns_client = owns_client
        self._client_closed = False
        self._runs: dict[str, Tracked] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        # When the current pause between ticks ends (None while ticking).
        self._pause_ends: datetime | None = None
        self._closed = False
        self._shared_key: tuple[weakref.ref[asyncio.AbstractEventLoop], Hashable] | None = None

    @classmethod
    def shared(
        cls,
        key: Hashable,
        factory: Callable[[], AsyncCyberdeskClient | RunWatcher],
        **options: Any,
    ) -> RunWatcher:
        """The watcher for (`key`, running event loop), created with `factory` on first use.

        `factory` returns a client (the watcher then owns and closes it) or a watcher. A shared
        watcher retires itself (and leaves the registry) once it has no waiters left.
        """
        loop = asyncio.get_running_loop()
        # A watcher's task/event reference its loop, so entries of loops closed while a watcher
        # was still registered would never be collected by the weak mapping alone.
        for stale in [lp for lp in _SHARED if lp.is_closed()]:
            _SHARED.pop(stale, None)
        per_loop = _SHARED.setdefault(loop, {})
        watcher = per_loop.get(key)
        if watcher is None or watcher._closed:
            made = factory()
            watcher = (
                made if isinstance(made, RunWatcher) else cls(made, owns_client=True, **options)
            )
            watcher._shared_key = (weakref.ref(loop), key)
            per_loop[key] = watcher
        return watcher

    @property
    def watched_run_ids(self) -> frozenset[str]:
        """Ids currently being polled."""
        return frozenset(self._runs)

    async def aclose(self) -> None:
        """Stop polling; pending waiters get a CyberdeskError."""
        self._closed = True
        self._unregister()
        for tracked in list(self._runs.values()):
            self._fail(
                tracked, CyberdeskError(f"RunWatcher closed while waiting for {tracked.run_id}.")
            )
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_client()

    async def _close_client(self) -> None:
        if self._owns_client and not self._client_closed:
            self._client_closed = True
            await self.client.aclose()

    async def wait(
        self,
        run_id: str,
        *,
        workflow_id: str | None = None,
        session_id: str | None = None,
        created_at: datetime | None = None,
        deadline: datetime | None = None,
        on_status_change: StatusCallback | None = None,
        narrator: RunNarrator | None = None,
    ) -> Run:
        """Wait until `run_id` is terminal and return the full run (whatever its outcome).

        `workflow_id`/`session_id` + `created_at` let the run be polled with list calls
        together with others; the deadline raises RunTimeoutError with the last seen run.
        `narrator` is shown every snapshot read and may read the history (see `narrator`).
        """
        if self._closed:
            raise CyberdeskError("This RunWatcher is closed; create a new one.")
        loop = asyncio.get_running_loop()
        tracked = self._runs.get(run_id)
        if tracked is None:
            tracked = Tracked(run_id=run_id, registered_at=self._clock())
            self._runs[run_id] = tracked
        tracked.workflow_id = tracked.workflow_id or workflow_id
        tracked.session_id = tracked.session_id or session_id
        if created_at is not None and tracked.created_at is None:
            tracked.created_at = as_aware(created_at)
        waiter = Waiter(
            loop.create_future(),
            as_aware(deadline) if deadline else None,
            on_status_change,
            narrator=narrator,
        )
        tracked.waiters.append(waiter)
        self._ensure_task(loop, waiter.deadline)
        try:
            return await waiter.future
        finally:
            self._drop_waiter(tracked, waiter)

    # -- loop ------------------------------------------------------------------------------

    def _ensure_task(self, loop: asyncio.AbstractEventLoop, deadline: datetime | None) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._loop(), name="cyberdesk-run-watcher")
        elif deadline is not None and self._pause_ends is not None and deadline < self._pause_ends:
            # Only a deadline inside the current pause cuts it short. Any other new waiter
            # joins the next tick: waking for each one would cost a list call per waiter
            # while many start one after another (200 mapped tasks: 10 lists per interval).
            self._wake.set()

    async def _loop(self) -> None:
        try:
            while self._runs:
                started = self._clock()
                try:
                    await self._tick()
                except Exception as exc:
                    logger.exception("RunWatcher poll failed unexpectedly")
                    for tracked in list(self._runs.values()):
                        self._fail(tracked, exc)
                if not self._runs:
                    break
                took = (self._clock() - started).total_seconds()
                await self._pause(max(0.0, self._next_delay() - took))
        finally:
            if not self._runs and self._shared_key is not None and not self._closed:
                self._closed = True
                self._unregister()
                await self._close_client()

    async def _pause(self, delay: float) -> None:
        wake = self._wake
        assert wake is not None
        wake.clear()
        self._pause_ends = self._clock() + timedelta(seconds=delay)
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._pause_ends = None
            for fut in (sleeper, waker):
                if not fut.done():
                    fut.cancel()

    def _next_delay(self) -> float:
        now = self._clock()
        delay = self._interval
        for tracked in self._runs.values():
            for waiter in tracked.waiters:
                if waiter.deadline is not None:
                    delay = min(delay, max(0.0, (waiter.deadline - now).total_seconds()))
        return delay

    def _unregister(self) -> None:
        if self._shared_key is None:
            return
        loop_ref, key = self._shared_key
        loop = loop_ref()
        per_loop = _SHARED.get(loop) if loop is not None else None
        if per_loop is not None and per_loop.get(key) is self:
            del per_loop[key]
            if not per_loop and loop is not None:
                _SHARED.pop(loop, None)
