"""Names of workflows and machines for log lines, listed once per process and kept.

A log line that says ``workflow 'Month-end export'`` and ``machine 'FIN-DESK-01'`` reads
better at 3 a.m. than two UUIDs. Names rarely change, so the first id of a kind not known yet
lists that kind (`GET /v1/machines`, `GET /v1/workflows`, pages of up to `PAGE_SIZE`): one
request names up to 1,000 machines, however many runs are watched. The names are kept
`NAME_TTL` seconds. An id not in the listing (a workflow created since) lists the kind again if
the listing is older than `RELIST_AFTER` seconds; an id found missing that way is not looked
for again for `FAILED_TTL` seconds, so a broken lookup never costs a request per log line.
Lookups never raise: a line without a name still carries the id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cyberdesk_core.errors import CyberdeskError

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient

__all__ = ["FAILED_TTL", "NAMES", "NAME_TTL", "NameBook", "RunNames", "label"]

#: Seconds listed names are kept.
NAME_TTL = 3600.0
#: Seconds an id missing from a fresh listing is taken as "no name".
FAILED_TTL = 300.0
#: Seconds a listing must be old before an unknown id makes its kind be listed again.
RELIST_AFTER = 30.0
#: Seconds a listing may take before the line goes out without the name.
LOOKUP_TIMEOUT = 10.0
PAGE_SIZE = 1000
MAX_PAGES = 10


@dataclass(frozen=True)
class RunNames:
    """The names known for one run's workflow and machine (None: unknown)."""

    workflow: str | None = None
    machine: str | None = None


def label(name: str | None, identifier: str | None) -> str | None:
    """``'name' (id)`` when the name is known, else the id (None when neither is)."""
    if identifier is None:
        return None
    return f"'{name}' ({identifier})" if name else identifier


class NameBook:
    """Process-wide cache of workflow and machine names by (API base URL, kind)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: (base URL, kind) -> (id -> name, when listed, expiry of the listing).
        self._listed: dict[tuple[str, str], tuple[dict[str, str], float, float]] = {}
        #: (base URL, kind, id) -> when the id was found missing from a fresh listing.
        self._missing: dict[tuple[str, str, str], float] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[dict[str, str]]] = {}
        #: Listing requests sent (for diagnostics and tests).
        self.listings = 0

    def clear(self) -> None:
        """Forget every name (as a new process starts)."""
        self._listed.clear()
        self._missing.clear()

    def cached(self, base_url: str, kind: str, identifier: str) -> tuple[bool, str | None]:
        """``(known, name)`` without any request; known is False when a listing is due."""
        now = self._clock()
        names, listed_at, expires = self._listed.get((base_url, kind), ({}, 0.0, 0.0))
        if expires > now and identifier in names:
            return True, names[identifier]
        missing = self._missing.get((base_url, kind, identifier))
        if missing is not None and now - missing < FAILED_TTL:
            return True, None
        if expires > now and now - listed_at < RELIST_AFTER:
            return True, None  # listed a moment ago: listing again would not find it either
        return False, None

    def cached_names(
        self, base_url: str, workflow_id: str | None, machine_id: str | None
    ) -> RunNames | None:
        """The run's names when both are settled in the cache (or not needed), else None."""
        names: list[str | None] = []
        for kind, identifier in (("workflow", workflow_id), ("machine", machine_id)):
            known, name = self.cached(base_url, kind, identifier) if identifier else (True, None)
            if not known:
                return None
            names.append(name)
        return RunNames(workflow=names[0], machine=names[1])

    async def _list(self, client: AsyncCyberdeskClient, kind: str) -> dict[str, str]:
        resource: Any = client.workflows if kind == "workflow" else client.machines
        names: dict[str, str] = {}
        skip = 0
        for _ in range(MAX_PAGES):
            self.listings += 1
            page = await resource.list(skip=skip, limit=PAGE_SIZE)
            names.update({item.id: item.name for item in page.items if item.name})
            skip += len(page.items)
            # Paged by the total the API reports: a server may cap `limit` below PAGE_SIZE.
            if not page.items or skip >= page.total:
                break
        return names

    async def _name(
        self, client: AsyncCyberdeskClient, kind: str, identifier: str | None
    ) -> str | None:
        if not identifier:
            return None
        known, name = self.cached(client.base_url, kind, identifier)
        if known:
            return name
        key = (client.base_url, kind)
        task = self._pending.get(key)
        if task is None or task.done():
            # Concurrent waits share one listing.
            task = self._pending[key] = asyncio.ensure_future(self._list(client, kind))
        try:
            names = await asyncio.wait_for(asyncio.shield(task), LOOKUP_TIMEOUT)
            ttl = NAME_TTL
        except (CyberdeskError, asyncio.TimeoutError, RuntimeError):
            # RuntimeError: the client was closed meanwhile (its watcher retired).
            names, ttl = {}, FAILED_TTL
        now = self._clock()
        self._listed[key] = (names, now, now + ttl)
        if identifier not in names:
            self._missing[(client.base_url, kind, identifier)] = now
        return names.get(identifier)

    async def names_of(
        self, client: AsyncCyberdeskClient, workflow_id: str | None, machine_id: str | None
    ) -> RunNames:
        """The workflow and machine names of a run (from the cache, else one listing each)."""
        workflow = await self._name(client, "workflow", workflow_id)
        machine = await self._name(client, "machine", machine_id)
        return RunNames(workflow=workflow, machine=machine)


#: The cache of this process, shared by every wait.
NAMES = NameBook()
