"""Wait for many runs at once through the process's shared watcher hub.

Every run of the call registers with the process's watch hub (`cyberdesk_core.watch_hub`), the
same one the single-run waits use: runs of one workflow (or session) are polled with a few list
calls instead of one GET each, and several bulk waits or chains mapped in one flow share those
calls too. Each run has a `RunNarrator` made in the caller's context: its status changes (with
workflow and machine names) and, unless `live_steps` is off, its new agent steps go to the
Prefect run logger, labelled by step alias where there is one. Status changes are also emitted
as events for each run and logged as a count summary.
If the wait is abandoned (task `timeout_seconds`, the wait's `timeout`, cancellation) every
run that has not ended is cancelled. Written once as steps (`_steps`), for the blocking and
the asyncio driver.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cyberdesk_prefect._run_steps import cancel_abandoned
from cyberdesk_prefect._run_wait import narrator_for, on_hub
from cyberdesk_prefect._watch_hub import HUB, RunHints, deadline_after, in_caller_context
from cyberdesk_prefect.observability import RunReporter, get_logger

if TYPE_CHECKING:
    from cyberdesk_core import Run
    from cyberdesk_core.narrator import RunNarrator
    from cyberdesk_prefect._run_settings import WaitSettings
    from cyberdesk_prefect._steps import Steps
    from cyberdesk_prefect.credentials import CyberdeskCredentials

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
    #: How the run is named in its step lines (a chain step's alias); None: its id.
    label: str | None = None

    @property
    def hints(self) -> RunHints:
        """The grouping hints of this run for the shared watcher."""
        return RunHints(self.workflow_id, self.session_id, self.created_at)


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


class _ManyWatch:
    """The runs of one call, registered with the hub; knows which of them ended."""

    def __init__(
        self,
        credentials: CyberdeskCredentials,
        refs: Sequence[RunRef],
        settings: WaitSettings,
        reporter: RunReporter,
        secrets: Any = (),
    ) -> None:
        self.refs = list(refs)
        self.finished = False
        self._credentials = credentials
        self._reporter = reporter
        self._progress = _Progress(len(self.refs))
        # Status callbacks run on the hub's thread while the caller may be cancelling.
        self._lock = threading.Lock()
        self._ended: set[str] = set()
        narrators = [narrator_for(settings, label=r.label, secrets=secrets) for r in self.refs]
        self.future = HUB.submit(
            _watch_all(
                credentials,
                self.refs,
                settings,
                on_status_change=in_caller_context(self._on_change),
                narrators=narrators,
            )
        )

    def _on_change(self, run: Run) -> None:
        if run.status.is_terminal:
            with self._lock:
                self._ended.add(str(run.id))
        self._reporter.update(run, self._credentials.run_url(run.id), log=False)
        self._progress.update(run)

    def done(self, runs: list[Run]) -> list[Run]:
        """Record the ended runs (events, final count summary) and return them."""
        self.finished = True
        for run in runs:
            self._reporter.update(run, self._credentials.run_url(run.id), log=False)
            self._progress.statuses[str(run.id)] = str(run.status)
        self._progress.log()
        return runs

    def unfinished(self) -> list[str]:
        """Ids of the runs not seen ended (to cancel when the wait is abandoned)."""
        with self._lock:
            return [ref.run_id for ref in self.refs if ref.run_id not in self._ended]


async def _watch_all(
    credentials: CyberdeskCredentials,
    refs: Sequence[RunRef],
    settings: WaitSettings,
    *,
    on_status_change: Callable[[Run], None],
    narrators: Sequence[RunNarrator],
) -> list[Run]:
    """On the hub's loop: every run's ended form, in order; the first failure is raised."""
    deadline = deadline_after(settings.timeout)
    outcomes = await asyncio.gather(
        *(
            HUB.watch(
                credentials,
                ref.run_id,
                poll_interval=settings.poll_interval,
                max_poll_interval=settings.max_poll_interval,
                hints=ref.hints,
                deadline=deadline,
                on_status_change=on_status_change,
                narrator=narrator,
            )
            for ref, narrator in zip(refs, narrators, strict=True)
        ),
        # Every wait runs to its own end (or the deadline): one run's failure does not
        # unregister the others while the batch is still being collected.
        return_exceptions=True,
    )
    runs: list[Run] = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        runs.append(outcome)
    return runs


def wait_for_runs(
    credentials: CyberdeskCredentials,
    refs: Sequence[RunRef],
    settings: WaitSettings,
    reporter: RunReporter,
    *,
    secrets: Any = (),
) -> Steps[list[Run]]:
    """Wait until every run ends; cancel the unfinished ones if the wait is abandoned.

    `secrets` (plaintext sensitive values the runs were started with) are masked in the
    logged lines. The cancels use the driver's client (lent, or opened for them).
    """
    watch = _ManyWatch(credentials, refs, settings, reporter, secrets)
    try:
        return watch.done((yield on_hub(watch.future)))
    except BaseException:
        pending = [] if watch.finished or not settings.cancel_on_abandon else watch.unfinished()
        if pending:
            yield cancel_abandoned(pending, grace_seconds=_CANCEL_GRACE_SECONDS)
        raise
