"""Find bare run ids in one listing of the organization's most recent runs.

A wait task given only a run id knows nothing that would let the shared watcher poll the run
with its siblings. The waits that start together share one listing of recent runs instead,
which tells the watcher each run's workflow, session and creation time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cyberdesk_core.errors import CyberdeskError

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, Run

logger = logging.getLogger("cyberdesk_prefect")

# One page of the most recent runs: the largest page the API serves.
_RECENT_PAGE = 1000
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
        self._pending: dict[str, list[asyncio.Future[Run | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, Run] = {}
        self._known_at = 0.0
        # Off once a full page of recent runs held none of the runs asked for (a busy
        # organization, or old runs): a GET per run is cheaper than a page per batch then.
        self._enabled = True

    def idle(self, now: float) -> bool:
        """True when nothing waits on this finder and its listing has expired."""
        busy = self._task is not None and not self._task.done()
        return not busy and not self._pending and now - self._known_at >= _LISTING_TTL

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
