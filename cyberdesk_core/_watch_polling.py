"""What one tick of a `RunWatcher` does: group the watched runs, list or GET them, resolve.

Each tick reads runs it knows nothing about with GET and groups of runs of the same workflow
(or session) with paged `runs.list(..., fields=LIST_FIELDS, limit=1000)` calls. Two or more
groups (a group of one run included) are first looked for in one list of the organization's
recent runs; what that list misses is listed per group, and a run alone in its group is read
with GET. A run listed as finished is handed to its waiters as listed (every field but
`run_message_history`). `RunPolling` holds this logic apart from the waiter registry and the
polling loop of `RunWatcher`, which inherits it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cyberdesk_core._listing import (
    LIST_FIELDS,
    Listed,
    Listing,
    ListingContext,
    listing_of,
    listing_parser,
)
from cyberdesk_core._request import Call
from cyberdesk_core._run_endpoints import list_runs
from cyberdesk_core._waitcore import Clock, is_permanent, timeout_error
from cyberdesk_core._watch_state import Tracked, Waiter, invoke
from cyberdesk_core.errors import BadRequestError, CyberdeskError, ValidationError, is_transient
from cyberdesk_core.models import Page, Run
from cyberdesk_core.transport import AsyncTransport

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient

__all__ = ["RunPolling"]

logger = logging.getLogger("cyberdesk_core")


class RunPolling:
    """The tick of a `RunWatcher`: reads the watched runs and settles their waiters."""

    client: AsyncCyberdeskClient
    poll_interval: float
    max_poll_interval: float
    _interval: float
    _troubled: bool
    _skew: timedelta
    _grace: float
    _max_concurrency: int
    _page_size: int
    _org_scan: bool
    _clock: Clock
    _runs: dict[str, Tracked]
    _wake: asyncio.Event | None

    #: History reads narrators may start per tick, at most (see `narrator`): live steps cost
    #: at most this many requests per interval on top of the polling, however many runs.
    history_budget: int = 1

    def _drop_waiter(self, tracked: Tracked, waiter: Waiter) -> None:
        if waiter.narrator is not None:
            waiter.narrator.close()
        if waiter in tracked.waiters:
            tracked.waiters.remove(waiter)
        if not tracked.waiters and self._runs.get(tracked.run_id) is tracked:
            del self._runs[tracked.run_id]
        if not self._runs and self._wake is not None:
            self._wake.set()

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
        self._read_due_histories()
        if self._troubled:
            self._interval = min(self.max_poll_interval, self._interval * 2)
        else:
            self._interval = self.poll_interval

    def _read_due_histories(self) -> None:
        """Let the narrators whose run's history is due read it, longest waiting first, at
        most `history_budget` per tick (the reads run beside the next pause)."""
        due = [
            waiter.narrator
            for tracked in self._runs.values()
            for waiter in tracked.waiters
            if waiter.narrator is not None and waiter.narrator.history_due()
        ]
        due.sort(key=lambda narrator: narrator.last_read)
        for narrator in due[: self.history_budget]:
            narrator.read_history(self.client)

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
            for run_id, progress in page.progress.items():
                if run_id in self._runs:
                    self._runs[run_id].progress = progress
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
            return listing_of(page, context)
        # A page holds up to 1000 runs, mostly unwatched or unchanged: only the watched runs
        # whose listed state changed become Run models (see `_listing`).
        request = list_runs(skip=skip, limit=self._page_size, **filters).request
        return await transport.call(Call(request, listing_parser(context)))

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
        tracked.progress = run.usage_metadata
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
            if waiter.narrator is not None:
                waiter.narrator.seen(run, self.client, progress=tracked.progress)
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
