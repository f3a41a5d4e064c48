"""Every wait of a process shares polling: one `RunWatcher` per credentials, on one loop.

An engine may run each waiting task in a worker thread, and each async task there in an
event loop of its own (Prefect runs `asyncio.run` per task), so a watcher per caller loop
would serve one wait each. Instead `HUB`, one daemon thread, hosts an event loop for the whole
process; sync and async waits both register with the shared watcher of that loop for their
credentials (`shared_watchers`), and many runs of one workflow or session are then read with
a few list calls per interval instead of one GET per run.

A run the caller created is registered with its `RunHints`, so it is batched from the first
poll. A bare run id is first looked up in one listing of the organization's most recent runs
shared by all the waits that start together (`recent_runs`); one not found there is read with
GET until the watcher learns its workflow.

Status callbacks run on the hub's loop; wrap them with `in_caller_context` so that what the
caller's context carries (an engine's run logger, its events) still applies to them.

Waits cost the caller's loop one wake-up per batch of results (`LoopWaker`). The hub's loop
thread, exit and fork handling are those of `HubLoop`; an engine whose runner cancels tasks
by other means than an exception passes an `Interrupt` to `wait_on_hub` / `await_on_hub`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import os
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypeVar

from cyberdesk_core._hub_futures import (
    HubFuture,
    HubStoppedError,
    Interrupt,
    LoopWaker,
    await_done,
    block_on,
)
from cyberdesk_core._hub_loop import HubLoop
from cyberdesk_core.errors import CyberdeskError
from cyberdesk_core.recent_runs import RecentRuns
from cyberdesk_core.shared_watchers import WatchCredentials, shared_watcher, watch_key

if TYPE_CHECKING:
    from cyberdesk_core.models import Run
    from cyberdesk_core.narrator import RunNarrator
    from cyberdesk_core.watcher import RunWatcher

__all__ = [
    "HUB",
    "HubFuture",
    "HubStoppedError",
    "Interrupt",
    "LoopWaker",
    "RunHints",
    "WatchHub",
    "await_on_hub",
    "deadline_after",
    "in_caller_context",
    "wait_on_hub",
    "watch_key",
]

T = TypeVar("T")


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


class WatchHub(HubLoop):
    """The process-wide event loop thread that hosts the shared watchers."""

    def __init__(self) -> None:
        super().__init__("cyberdesk-run-watcher")

    def _on_new_loop(self) -> None:
        self._recent: dict[Hashable, RecentRuns] = {}
        # The shared watchers this hub used, so interrupted ones can be closed at exit.
        self._watchers: weakref.WeakSet[RunWatcher] = weakref.WeakSet()

    def watched_run_ids(self, timeout: float = 10.0) -> frozenset[str]:
        """Ids of the runs the hub's watchers poll right now (for diagnostics and tests)."""
        if self.thread is None or not self.thread.is_alive():
            return frozenset()

        async def collect() -> frozenset[str]:
            return frozenset(i for w in list(self._watchers) for i in w.watched_run_ids)

        return self.submit(collect()).result(timeout)

    async def _stop_all(self) -> None:
        """Cancel every other task of the hub's loop, then close the watchers (on the loop)."""
        await super()._stop_all()
        # A watcher whose polling task was cancelled before its waiters left keeps its
        # client open: close each one explicitly.
        for watcher in list(self._watchers):
            with contextlib.suppress(Exception):
                await watcher.aclose()

    def _recent_runs(self, key: Hashable, credentials: WatchCredentials) -> RecentRuns:
        now = asyncio.get_running_loop().time()
        # Drop the finders of credentials no longer in use (a rotated key, a one-off
        # interval): each holds its credentials.
        for stale in [k for k, f in self._recent.items() if k != key and f.idle(now)]:
            del self._recent[stale]
        recent = self._recent.get(key)
        if recent is None:
            recent = self._recent[key] = RecentRuns(credentials.get_async_client)
        return recent

    async def watch(
        self,
        credentials: WatchCredentials,
        run_id: str,
        *,
        poll_interval: float,
        max_poll_interval: float,
        hints: RunHints | None,
        deadline: datetime | None,
        on_status_change: Callable[[Run], None],
        narrator: RunNarrator | None = None,
    ) -> Run:
        """Wait (on the hub's loop) until `run_id` is terminal; see `RunWatcher.wait`.

        Cyberdesk errors (a failed poll, the deadline) are raised as they are; anything else
        going wrong in the hub is raised as a `CyberdeskError` naming the run, chained to the
        original exception.
        """
        try:
            max_poll_interval = max(max_poll_interval, poll_interval)
            if hints is None or not hints.groupable:
                key = watch_key(credentials, poll_interval, max_poll_interval)
                listed = await self._recent_runs(key, credentials).find(run_id)
                hints = RunHints(*listed) if listed is not None else hints or RunHints()
            # Nothing is awaited between taking the shared watcher and registering with it,
            # so it cannot retire (and refuse this wait) in between.
            watcher = shared_watcher(
                credentials, poll_interval=poll_interval, max_poll_interval=max_poll_interval
            )
            self._watchers.add(watcher)
            return await watcher.wait(
                run_id,
                workflow_id=hints.workflow_id,
                session_id=hints.session_id,
                created_at=hints.created_at,
                deadline=deadline,
                on_status_change=on_status_change,
                narrator=narrator,
            )
        except CyberdeskError:
            raise
        except Exception as exc:
            raise CyberdeskError(
                f"Waiting for Cyberdesk run {run_id} failed in the shared run watcher: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


#: The hub of this process, shared by every engine.
HUB = WatchHub()
atexit.register(HUB.shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=HUB.after_fork)


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


def wait_on_hub(future: HubFuture[T], interrupt: Interrupt | None = None) -> T:
    """Block until `future` is done, waking up regularly; cancel it if interrupted."""
    return block_on(future, interrupt)


async def await_on_hub(future: HubFuture[T], interrupt: Interrupt | None = None) -> T:
    """Await `future` from any event loop; cancelling the awaiting task cancels it too."""
    return await await_done(future, HUB.waker, interrupt)
