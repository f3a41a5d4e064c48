"""Names of workflows and machines for log lines, looked up once per process and kept.

A log line that says ``workflow 'Month-end export'`` and ``machine 'FIN-DESK-01'`` reads
better at 3 a.m. than two UUIDs. Names rarely change, so each id is looked up once (one GET)
and kept for `NAME_TTL` seconds; a failed lookup (no permission, a deleted machine, a network
fault) is kept for `FAILED_TTL` seconds as "no name" so a broken lookup never costs a request
per log line. Lookups never raise: a line without a name still carries the id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cyberdesk_core.errors import CyberdeskError

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient

__all__ = ["FAILED_TTL", "NAMES", "NAME_TTL", "NameBook", "RunNames", "label"]

#: Seconds a looked-up name is kept.
NAME_TTL = 3600.0
#: Seconds a failed lookup is kept as "no name" before it is tried again.
FAILED_TTL = 300.0
#: Seconds a lookup may take before the line goes out without the name.
LOOKUP_TIMEOUT = 5.0


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
    """Process-wide cache of workflow and machine names by (API base URL, kind, id)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._names: dict[tuple[str, str, str], tuple[str | None, float]] = {}

    def cached(self, base_url: str, kind: str, identifier: str) -> tuple[bool, str | None]:
        """``(known, name)`` from the cache without any request."""
        entry = self._names.get((base_url, kind, identifier))
        if entry is None or entry[1] <= self._clock():
            return False, None
        return True, entry[0]

    def cached_names(
        self, base_url: str, workflow_id: str | None, machine_id: str | None
    ) -> RunNames | None:
        """The run's names when both are cached (or not needed), else None."""
        names: list[str | None] = []
        for kind, identifier in (("workflow", workflow_id), ("machine", machine_id)):
            known, name = self.cached(base_url, kind, identifier) if identifier else (True, None)
            if not known:
                return None
            names.append(name)
        return RunNames(workflow=names[0], machine=names[1])

    async def _name(
        self, client: AsyncCyberdeskClient, kind: str, identifier: str | None
    ) -> str | None:
        if not identifier:
            return None
        known, name = self.cached(client.base_url, kind, identifier)
        if known:
            return name
        lookup: Callable[[str], Awaitable[object]] = (
            client.workflows.get if kind == "workflow" else client.machines.get
        )
        try:
            found = await asyncio.wait_for(lookup(identifier), LOOKUP_TIMEOUT)
            name = getattr(found, "name", None) or None
            ttl = NAME_TTL
        except (CyberdeskError, asyncio.TimeoutError, RuntimeError):
            # RuntimeError: the client was closed meanwhile (its watcher retired).
            name, ttl = None, FAILED_TTL
        self._names[(client.base_url, kind, identifier)] = (name, self._clock() + ttl)
        return name

    async def names_of(
        self, client: AsyncCyberdeskClient, workflow_id: str | None, machine_id: str | None
    ) -> RunNames:
        """The workflow and machine names of a run (from the cache, else one GET each)."""
        workflow = await self._name(client, "workflow", workflow_id)
        machine = await self._name(client, "machine", machine_id)
        return RunNames(workflow=workflow, machine=machine)


#: The cache of this process, shared by every wait.
NAMES = NameBook()
