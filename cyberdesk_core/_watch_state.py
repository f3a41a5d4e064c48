"""Book-keeping records of `RunWatcher`: one `Tracked` per run id, one `Waiter` per caller."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cyberdesk_core._listing import Fingerprint
from cyberdesk_core.models import Run, RunStatus

if TYPE_CHECKING:
    from cyberdesk_core.narrator import RunNarrator

__all__ = ["StatusCallback", "Tracked", "Waiter", "invoke"]

StatusCallback = Callable[[Run], Any]


@dataclass(eq=False)
class Waiter:
    """One caller waiting for a run: its future, deadline, status callback and narrator."""

    future: asyncio.Future[Run]
    deadline: datetime | None
    callback: StatusCallback | None
    last_status: RunStatus | None = None
    narrator: RunNarrator | None = None


@dataclass(eq=False)
class Tracked:
    """One watched run and everything known about it."""

    run_id: str
    registered_at: datetime
    workflow_id: str | None = None
    session_id: str | None = None
    created_at: datetime | None = None
    waiters: list[Waiter] = field(default_factory=list)
    last_run: Run | None = None
    seen: bool = False
    # Not found in a list scan (e.g. clock skew): read with GET from now on.
    get_only: bool = False
    # The state the last list scan showed (status, machine, start, end as sent), when a scan
    # built `last_run`: a later scan showing the same state does not build the run again.
    listed_as: Fingerprint | None = None
    # The run's raw `usage_metadata` as last read: its progress within a status, for narrators.
    progress: object = None

    def group_key(self) -> tuple[str, str] | None:
        """(filter name, value) to list this run with others, or None to read it with GET."""
        if self.get_only or self.created_at is None:
            return None
        if self.session_id:
            return ("session_id", self.session_id)
        if self.workflow_id:
            return ("workflow_id", self.workflow_id)
        return None


async def invoke(callback: StatusCallback, run: Run) -> None:
    """Call a sync or async status callback."""
    result = callback(run)
    if inspect.isawaitable(result):
        await result
