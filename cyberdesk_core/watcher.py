"""`RunWatcher`: many concurrent waiters in one event loop share one polling task.

Each tick it reads runs it knows nothing about with GET and groups of runs of the same
workflow (or session) with paged `runs.list(..., fields=LIST_FIELDS, limit=1000)` calls. Two
or more groups (a group of one run included) are first looked for in one list of the
organization's recent runs; what that list misses is listed per group, and a run alone in its
group is read with GET. A run listed as finished is handed to its waiters as listed (every
field but `run_message_history`; read that with `runs.get` when needed). Finished runs leave
the watch list and are never polled again. Ticks start one interval apart, however long a
tick takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from cyberdesk_core._client_base import AsyncClosing
from cyberdesk_core._listing import Listed, Listing, ListingContext, parse_listing
from cyberdesk_core._request import Call, model_parser
from cyberdesk_core._run_endpoints import list_runs
from cyberdesk_core._waitcore import (
    NOT_FOUND_GRACE,
    Clock,
    as_aware,
    is_permanent,
    timeout_error,
    utcnow,
)
from cyberdesk_core._watch_state import StatusCallback, Tracked, Waiter, invoke
from cyberdesk_core.errors import BadRequestError, CyberdeskError, ValidationError, is_transient
from cyberdesk_core.inputs import validate_timeouts
from cyberdesk_core.models import Page, Run
from cyberdesk_core.transport import AsyncTransport

if TYPE_CHECKING:
    import httpx

    from cyberdesk_core.aclient import AsyncCyberdeskClient

__all__ = ["RunWatcher", "StatusCallback"]

logger = logging.getLogger("cyberdesk_core")

# Every optional run field except `run_message_history` (the one that makes runs heavy): a run
# seen finished in a list scan is complete enough to hand to its waiters without a GET.
LIST_FIELDS = (
    "ended_at",
    "started_at",
    "error",
    "output_data",
    "output_attachment_ids",
    "input_attachment_ids",
    "input_values",
    "session_id",
    "session_alias",
    "release_session_after",
    "post_run_checks",
    "usage_metadata",
    "pool_ids",
    "is_priority",
    "main_prompt",
    "model_metadata",
    "sensitive_input_aliases",
    "organization_id",
    "user_id",
)

_PAGE_OF_RUNS: type[Page[Run]] = Page[Run]


def _listing_of(page: Page[Run], context: ListingContext) -> Listing:
    """A page read as a whole (another client's list call) as the watcher's listing."""
    found: dict[str, Listed] = {
        run.id: (run, None) for run in page.items if run.id in context.known
    }
    return Listing(found, len(page.items), page.total)


def _listing_parser(context: ListingContext) -> Callable[[httpx.Response], Listing]:
    def parse(response: httpx.Response) -> Listing:
        try:
            return parse_listing(response.content, context)
        except PydanticValidationError:
            # Not JSON, or not a page: the regular parser raises the usual, explicit APIError.
            return _listing_of(model_parser(_PAGE_OF_RUNS)(response), context)

    return parse


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, RunWatcher]] = (
    weakref.WeakKeyDictionary()
)


class RunWatcher(AsyncClosing):
    """Coalesces polling for many waiters (async context manager; `aclose()` to stop)."""

    def __init__(
        self,
        aclient: AsyncCyberdeskClient,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        created_at_skew: float = 60.0,
        not_found_grace: float = NOT_FOUND_GRACE,
        max_concurrency: int = 8,
        page_size: int = 1000,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        owns_client: bool = False,
    ) -> None:
        validate_timeouts(poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self.client = aclient
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
    ) -> Run:
        """Wait until `run_id` is terminal and return the full run (whatever its outcome).

        `workflow_id`/`session_id` + `created_at` let the run be polled with list calls
        together with others; the deadline raises RunTimeoutError with the last seen run.
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
            loop.create_future(), as_aware(deadline) if deadline else None, on_status_change
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

    def _drop_waiter(self, tracked: Tracked, waiter: Waiter) -> None:
        if waiter in tracked.waiters:
            tracked.waiters.remove(waiter)
        if not tracked.waiters and self._runs.get(tracked.run_id) is tracked:
            del self._runs[tracked.run_id]
        if not self._runs and self._wake is not None:
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

    # -- one tick --------------------------------------------------------------------------

    async def _tick(self) -> None:
        self._troubled = False
        self._expire(self._clock())
        groups: dict[tuple[str, str], list[Tracked]] = {}
        to_get: list[Tracked] = []
        for tracked in list(self._runs.values()):
            key = tracked.group_key()
            if key is None:
                to_get.append(tracked)
            else:
                groups.setdefault(key, []).append(tracked)
        # Several groups share one list of the organization's recent runs, a group of one run
        # too (the last step of each of many chains); what that list misses is read per group.
        if len(groups) >= 2 and self._org_scan:
            groups = await self._scan_organization(groups)
        multi = {key: members for key, members in groups.items() if len(members) >= 2}
        to_get.extend(t for members in groups.values() if len(members) < 2 for t in members)
        for key, members in multi.items():
            to_get.extend(await self._scan_group(key, members))
        semaphore = asyncio.Semaphore(self._max_concurrency)

        async def bounded(tracked: Tracked) -> None:
            async with semaphore:
                await self._read(tracked)

        await asyncio.gather(*(bounded(t) for t in to_get if t.run_id in self._runs))
        if self._troubled:
            self._interval = min(self.max_poll_interval, self._interval * 2)
        else:
            self._interval = self.poll_interval

    def _expire(self, now: datetime) -> None:
        for tracked in list(self._runs.values()):
            for waiter in list(tracked.waiters):
                if waiter.deadline is not None and now >= waiter.deadline:
                    if not waiter.future.done():
                        waiter.future.set_exception(
                            timeout_error(tracked.run_id, waiter.deadline, tracked.last_run)
                        )
                    self._drop_waiter(tracked, waiter)

    async def _scan_organization(
        self, groups: dict[tuple[str, str], list[Tracked]]
    ) -> dict[tuple[str, str], list[Tracked]]:
        """One unfiltered list for several groups; returns the groups still to scan."""
        members = [t for group in groups.values() for t in group]
        # Worth it only while it needs fewer pages than the one list per group it replaces.
        result = await self._scan(None, members, max_pages=len(groups) - 1)
        if result is None:
            # Refused listing: the groups list themselves; an outage: nothing more this tick.
            return {} if self._org_scan else groups
        found, exhausted = result
        if not exhausted:
            self._org_scan = False
        left: dict[tuple[str, str], list[Tracked]] = {}
        for key, group in groups.items():
            missing = [t for t in group if t.run_id not in found]
            await self._apply(group, found)
            if missing:
                left[key] = missing
        return left

    async def _scan_group(self, key: tuple[str, str], members: list[Tracked]) -> list[Tracked]:
        """List the group's runs and resolve the finished ones; returns the members to GET."""
        # Listing only pays off while it needs fewer requests than one GET per run; runs not
        # found within that budget (old runs in a busy workflow) are read with GET instead.
        result = await self._scan(key, members, max_pages=max(1, len(members) // 2))
        if result is None:
            return []
        found, _ = result
        missing = [t for t in members if t.run_id not in found]
        for tracked in missing:
            tracked.get_only = True
        await self._apply(members, found)
        return missing

    async def _scan(
        self, key: tuple[str, str] | None, members: list[Tracked], *, max_pages: int
    ) -> tuple[dict[str, Listed], bool] | None:
        """List runs created since the oldest member (filtered by `key`, or all when None).

        Returns the members found (None for a member listed as at the previous scan: not
        built again, see `_listing`) and whether the listing was read to its end, or None when
        the members cannot be listed this tick (they are then failed, retried or switched to
        GET here).
        """
        wanted = {t.run_id: t.listed_as for t in members}
        since = min(t.created_at for t in members if t.created_at is not None) - self._skew
        found: dict[str, Listed] = {}
        skip: int | None = 0
        while skip is not None and max_pages > 0 and len(found) < len(wanted):
            max_pages -= 1
            context = ListingContext(wanted)
            try:
                page = await self._list_page(key, since, skip, context)
            except (ValidationError, BadRequestError) as exc:
                what = f"{key[0]}={key[1]}" if key else "recent runs"
                logger.warning("Listing %s failed (%s); not listing them again.", what, exc)
                if key is None:
                    self._org_scan = False
                    return None
                for tracked in members:
                    tracked.get_only = True
                return {}, False
            except CyberdeskError as exc:
                if not is_permanent(exc, seen=True, waited=0.0, grace=0.0):
                    logger.warning("Listing runs failed, will retry: %s", exc)
                    self._troubled = True
                    return None
                for tracked in members:
                    self._fail(tracked, exc)
                return None
            found.update(page.found)
            nxt = skip + page.count
            skip = nxt if page.count and nxt < page.total else None
        return found, skip is None or len(found) == len(wanted)

    async def _list_page(
        self, key: tuple[str, str] | None, since: datetime, skip: int, context: ListingContext
    ) -> Listing:
        filters: dict[str, Any] = {
            "workflow_id": key[1] if key and key[0] == "workflow_id" else None,
            "session_id": key[1] if key and key[0] == "session_id" else None,
            "created_at_from": since,
            "fields": list(LIST_FIELDS),
            "sort_mode": "created_at_desc",
        }
        transport = getattr(self.client, "_transport", None)
        if not isinstance(transport, AsyncTransport):
            # A client of another make: its own list call.
            page: Page[Run] = await self.client.runs.list(
                skip=skip, limit=self._page_size, **filters
            )
            return _listing_of(page, context)
        # A page holds up to 1000 runs, mostly unwatched or unchanged: only the watched runs
        # whose listed state changed become Run models (see `_listing`).
        request = list_runs(skip=skip, limit=self._page_size, **filters).request
        return await transport.call(Call(request, _listing_parser(context)))

    async def _apply(self, members: list[Tracked], found: dict[str, Listed]) -> None:
        """Record what a list showed; finished runs go to their waiters as listed."""
        for tracked in members:
            if tracked.run_id not in found or tracked.run_id not in self._runs:
                continue
            tracked.seen = True
            entry = found[tracked.run_id]
            if entry is not None:
                listed, tracked.listed_as = entry
            elif tracked.last_run is not None:
                # Listed as at the previous scan: the run built then still holds (and still
                # goes to waiters that joined since and have not seen its status).
                listed = tracked.last_run
            else:
                continue
            await self._observe(tracked, listed)
            if listed.status.is_terminal:
                # One GET per finished run would cost as many requests as the runs themselves.
                self._resolve(tracked, listed)

    async def _read(self, tracked: Tracked) -> None:
        try:
            run = await self.client.runs.get(tracked.run_id)
        except CyberdeskError as exc:
            waited = (self._clock() - tracked.registered_at).total_seconds()
            if is_permanent(exc, seen=tracked.seen, waited=waited, grace=self._grace):
                self._fail(tracked, exc)
            else:
                logger.warning("Polling run %s failed, will retry: %s", tracked.run_id, exc)
                # A 404 right after creation is expected; only real trouble slows polling.
                self._troubled = self._troubled or is_transient(exc)
            return
        tracked.seen = True
        # `last_run` now comes from a GET: the next list scan builds the run again.
        tracked.listed_as = None
        tracked.workflow_id = tracked.workflow_id or run.workflow_id
        tracked.session_id = tracked.session_id or run.session_id
        tracked.created_at = tracked.created_at or run.created_at
        await self._observe(tracked, run)
        if run.status.is_terminal:
            self._resolve(tracked, run)

    async def _observe(self, tracked: Tracked, run: Run) -> None:
        tracked.last_run = run
        for waiter in list(tracked.waiters):
            if waiter.last_status == run.status:
                continue
            waiter.last_status = run.status
            if waiter.callback is None or waiter.future.done():
                continue
            try:
                await invoke(waiter.callback, run)
            except Exception as exc:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)

    def _resolve(self, tracked: Tracked, run: Run) -> None:
        for waiter in tracked.waiters:
            if not waiter.future.done():
                waiter.future.set_result(run)
        self._runs.pop(tracked.run_id, None)

    def _fail(self, tracked: Tracked, exc: BaseException) -> None:
        for waiter in tracked.waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
        self._runs.pop(tracked.run_id, None)
