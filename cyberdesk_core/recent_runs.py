"""Find bare run ids in listings of the organization's most recent runs.

A wait given only a run id knows nothing that would let the shared watcher poll the run
with its siblings. The waits that start together share a listing of recent runs instead (as
many pages as they need), which tells the watcher each run's workflow, session and creation
time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from cyberdesk_core.errors import CyberdeskError

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.models import Run

__all__ = ["Found", "RecentRuns"]

logger = logging.getLogger("cyberdesk_core")

#: What a listing tells about a run: its workflow, session and creation time. Kept instead of
#: the listed `Run` (about 2 KiB each): 10,000 waits keep 10,000 of them for `_LISTING_TTL`.
Found = tuple[str, str | None, datetime]

# A page of recent runs: the largest page the API serves.
_RECENT_PAGE = 1000
# How many pages of recent runs are searched for the first run of a batch.
_SEARCH_PAGES = 10
# How long waits that start together are collected before recent runs are listed for them.
_GATHER_SECONDS = 0.05
# How long a listing of recent runs answers later lookups.
_LISTING_TTL = 30.0


class RecentRuns:
    """Finds bare run ids in a listing of recent runs, shared by waits that start together.

    The latest listing is kept for a while: waits that arrive a little later (a large map
    reaches the hub over several loop iterations) usually find their run in it without a
    request. A run's workflow, session and creation time do not change, and they are only
    hints anyway: the watcher reads a run it cannot find by listing with GET.
    """

    def __init__(self, make_client: Callable[[], AsyncCyberdeskClient]) -> None:
        self._make_client = make_client
        self._pending: dict[str, list[asyncio.Future[Found | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, Found] = {}
        self._known_at = 0.0
        # Off once `_SEARCH_PAGES` full pages of recent runs held none of the runs asked for
        # (a busy organization, or old runs): a GET per run is cheaper than pages per batch.
        self._enabled = True

    def idle(self, now: float) -> bool:
        """True when nothing waits on this finder and its listing has expired."""
        busy = self._task is not None and not self._task.done()
        return not busy and not self._pending and now - self._known_at >= _LISTING_TTL

    async def find(self, run_id: str) -> Found | None:
        """Workflow, session and creation time of the run, if listed among recent runs."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._known_at < _LISTING_TTL and run_id in self._known:
            return self._known[run_id]
        if not self._enabled:
            return None
        future: asyncio.Future[Found | None] = loop.create_future()
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
        self, client: AsyncCyberdeskClient, batch: dict[str, list[asyncio.Future[Found | None]]]
    ) -> None:
        # Waits reach the hub over seconds, the oldest runs first when they come from one
        # bulk, so a batch's runs may sit thousands of runs deep: the first of them is looked
        # for up to `_SEARCH_PAGES` pages deep, then pages are read on while they hold runs
        # asked for (one page per 1,000 of them, plus one). A page replaces up to 1,000 GETs;
        # with one page only, 10,000 waits read 9,000 of their runs with GET.
        wanted = set(batch)
        known: dict[str, Found] = {}
        first_hit: int | None = None
        number = 0
        while True:
            try:
                page = await client.runs.list(
                    sort_mode="created_at_desc",
                    fields=["session_id"],
                    skip=number * _RECENT_PAGE,
                    limit=_RECENT_PAGE,
                )
            except CyberdeskError as exc:
                # The watcher reads these runs with GET instead; nothing is lost but batching.
                logger.debug("Listing recent runs failed (%s); polling the runs one by one.", exc)
                break
            listed = {str(run.id): _found(run) for run in page.items}
            known.update(listed)
            hits = wanted.intersection(listed)
            wanted -= hits
            if hits and first_hit is None:
                first_hit = number
            number += 1
            if not wanted or len(page.items) < _RECENT_PAGE:
                break
            if first_hit is None and number >= _SEARCH_PAGES:
                # None of them among this many recent runs: a busy organization, or old runs.
                self._enabled = False
                break
            past = first_hit is not None and number - first_hit > len(batch) // _RECENT_PAGE
            if past or (first_hit is not None and not hits):
                break
        if known:
            self._known = known
            self._known_at = asyncio.get_running_loop().time()


def _found(run: Run) -> Found:
    return (str(run.workflow_id), run.session_id, run.created_at)


def _settle(batch: dict[str, list[asyncio.Future[Found | None]]], found: dict[str, Found]) -> None:
    for run_id, futures in batch.items():
        for future in futures:
            if not future.done():
                future.set_result(found.get(run_id))
