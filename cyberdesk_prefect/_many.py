"""Wait for many runs at once through the core `RunWatcher` (shared, grouped polling).

One watcher serves all waiters of a call: runs of the same workflow (or session) are polled
with a few list calls instead of one GET each. If the wait is abandoned every run that has
not ended is cancelled. The sync entry point drives the same coroutine on a private event
loop, so sync and async tasks behave the same.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from cyberdesk_core.waiting import RunWatcher
from cyberdesk_prefect._engine import WaitSettings, acancel_abandoned
from cyberdesk_prefect.observability import RunReporter, get_logger

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, Run
    from cyberdesk_prefect.credentials import CyberdeskCredentials

T = TypeVar("T")
# Cancelling many runs (16 at a time) may need longer than the single-run grace period.
_CANCEL_GRACE_SECONDS = 15.0
_PROGRESS_LOG_EVERY = 5.0


@dataclass(frozen=True)
class RunRef:
    """What the watcher needs to group a run with its siblings."""

    run_id: str
    workflow_id: str | None = None
    session_id: str | None = None
    created_at: datetime | None = None


class _Progress:
    """Logs a status count summary when it changes, at most every few seconds."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.statuses: dict[str, str] = {}
        self._last_logged = ""
        self._last_time = 0.0

    def update(self, run: Run, *, force: bool = False) -> None:
        self.statuses[str(run.id)] = str(run.status)
        now = time.monotonic()
        if not force and now - self._last_time < _PROGRESS_LOG_EVERY:
            return
        self.log(now)

    def log(self, now: float | None = None) -> None:
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        if summary != self._last_logged:
            get_logger().info("Cyberdesk runs (%d): %s", self.total, summary)
            self._last_logged = summary
        self._last_time = now if now is not None else time.monotonic()


async def await_many(
    client: AsyncCyberdeskClient,
    refs: Sequence[RunRef],
    settings: WaitSettings,
    reporter: RunReporter,
) -> list[Run]:
    """Wait for every run in `refs` to end; cancel the unfinished ones if abandoned."""
    deadline = (
        datetime.now(timezone.utc) + timedelta(seconds=settings.timeout)
        if settings.timeout is not None
        else None
    )
    progress = _Progress(len(refs))
    ended: dict[str, Run] = {}

    def on_change(run: Run) -> None:
        if run.status.is_terminal:
            ended[str(run.id)] = run
        reporter.update(run, client.run_url(run.id), log=False)
        progress.update(run)

    finished = False
    try:
        async with RunWatcher(client, poll_interval=settings.poll_interval) as watcher:
            outcomes = await asyncio.gather(
                *(
                    watcher.wait(
                        ref.run_id,
                        workflow_id=ref.workflow_id,
                        session_id=ref.session_id,
                        created_at=ref.created_at,
                        deadline=deadline,
                        on_status_change=on_change,
                    )
                    for ref in refs
                ),
                return_exceptions=True,
            )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        runs = [o for o in outcomes if not isinstance(o, BaseException)]
        for run in runs:
            ended[str(run.id)] = run
            reporter.update(run, client.run_url(run.id), log=False)
            progress.statuses[str(run.id)] = str(run.status)
        progress.log()
        finished = True
        return runs
    finally:
        if not finished and settings.cancel_on_abandon:
            pending = [ref.run_id for ref in refs if ref.run_id not in ended]
            await acancel_abandoned(client, pending, grace_seconds=_CANCEL_GRACE_SECONDS)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, on a private event loop.

    In a thread that already runs an event loop, a helper thread hosts the new loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="cyberdesk") as pool:
        return pool.submit(asyncio.run, coro).result()


def wait_many_sync(
    credentials: CyberdeskCredentials,
    refs: Sequence[RunRef],
    settings: WaitSettings,
    reporter: RunReporter,
) -> list[Run]:
    """Sync form of `await_many` (own client, own event loop)."""

    async def main() -> list[Run]:
        async with credentials.get_async_client() as client:
            return await await_many(client, refs, settings, reporter)

    return run_coroutine(main())
