"""Pure waiting logic shared by `wait_for_run`, `await_run` and `RunWatcher`.

Which statuses end a wait, which errors are worth polling through, how the poll interval grows
and when the deadline has passed are decided here, without any I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from typing_extensions import TypedDict, Unpack

from cyberdesk_core._request import checked_options
from cyberdesk_core.errors import (
    CyberdeskError,
    NotFoundError,
    RunCancelledError,
    RunFailedError,
    RunTimeoutError,
    is_transient,
    timeout_message,
)
from cyberdesk_core.inputs import validate_timeouts
from cyberdesk_core.models import Run, RunStatus

__all__ = [
    "NOT_FOUND_GRACE",
    "Clock",
    "PollOptions",
    "WaitState",
    "as_aware",
    "is_permanent",
    "raise_for_run_status",
    "resolve_deadline",
    "timeout_error",
    "utcnow",
]

logger = logging.getLogger("cyberdesk_core")

Clock = Callable[[], datetime]

# A freshly created run can briefly 404 on a read replica; after this many seconds it is real.
NOT_FOUND_GRACE = 30.0
_ERROR_TEXT_LIMIT = 2000


class PollOptions(TypedDict, total=False):
    """How often and how long `wait_for_run` / `await_run` poll.

    `poll_interval` (seconds, default 5) grows while the status stays the same, up to
    `max_poll_interval` (default 30). The wait ends at the earlier of `timeout` seconds from the
    start and the absolute `deadline`; with neither it never times out.
    """

    poll_interval: float
    max_poll_interval: float
    timeout: float | None
    deadline: datetime | None


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


def as_aware(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def resolve_deadline(
    now: datetime, timeout: float | None, deadline: datetime | None
) -> datetime | None:
    """The earlier of `now + timeout` and `deadline` (None when neither is given)."""
    candidates = [as_aware(deadline)] if deadline is not None else []
    if timeout is not None:
        candidates.append(now + timedelta(seconds=timeout))
    return min(candidates) if candidates else None


def is_permanent(exc: CyberdeskError, *, seen: bool, waited: float, grace: float) -> bool:
    """Whether a polling error must end the wait (vs. be polled through until the deadline).

    Transient errors (network, 408/429/5xx) never end a wait. A 404 is tolerated only right
    after creation (`seen` False and less than `grace` seconds spent); everything else
    (401/403/422, ...) is permanent.
    """
    if is_transient(exc):
        return False
    if isinstance(exc, NotFoundError):
        return seen or waited >= grace
    return True


def _errors_text(run: Run) -> str:
    if not run.error:
        return "no error details were reported"
    text = "; ".join(str(e) for e in run.error)
    return text if len(text) <= _ERROR_TEXT_LIMIT else text[:_ERROR_TEXT_LIMIT] + "..."


def raise_for_run_status(run: Run) -> Run:
    """Return `run` unless it ended badly: RunCancelledError for `cancelled`, RunFailedError for
    `error` / `task_failed` (message includes the run's error list)."""
    if run.status is RunStatus.CANCELLED:
        raise RunCancelledError(f"Cyberdesk run {run.id} was cancelled.", run)
    if run.status in (RunStatus.ERROR, RunStatus.TASK_FAILED):
        kind = "the agent declared the task failed" if run.status is RunStatus.TASK_FAILED else ""
        reason = f" ({kind})" if kind else ""
        raise RunFailedError(
            f"Cyberdesk run {run.id} ended with status {run.status.value}{reason}: "
            f"{_errors_text(run)}. Inspect the run in the dashboard, fix the cause and retry it.",
            run,
        )
    return run


def timeout_error(run_id: str, deadline: datetime | None, last: Run | None) -> RunTimeoutError:
    """RunTimeoutError carrying the last run seen (None if it was never read)."""
    status = last.status.value if last is not None else "never read"
    return RunTimeoutError(
        timeout_message([run_id], cancelled=False, deadline=deadline, last_status=status),
        last,
        run_id=run_id,
        deadline=deadline,
    )


@dataclass
class WaitState:
    """Book-keeping for one polled run: status changes, backoff, errors and the deadline."""

    run_id: str
    poll_interval: float
    max_poll_interval: float
    deadline: datetime | None
    started: datetime
    backoff: float = 1.5
    not_found_grace: float = NOT_FOUND_GRACE
    interval: float = field(init=False)
    last_run: Run | None = None
    seen: bool = False

    def __post_init__(self) -> None:
        self.interval = self.poll_interval

    @classmethod
    def start(
        cls, run_id: str, clock: Clock, caller: str, **options: Unpack[PollOptions]
    ) -> WaitState:
        """Validate the settings (defaults as documented on `PollOptions`), start the clock.

        `caller` names the public function in the TypeError for an unknown option.
        """
        checked_options(options, PollOptions, caller)
        poll_interval = options.get("poll_interval", 5.0)
        max_poll_interval = options.get("max_poll_interval", 30.0)
        timeout = options.get("timeout")
        validate_timeouts(
            poll_interval=poll_interval, max_poll_interval=max_poll_interval, timeout=timeout
        )
        now = clock()
        return cls(
            run_id=run_id,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            deadline=resolve_deadline(now, timeout, options.get("deadline")),
            started=now,
        )

    def observe(self, run: Run) -> bool:
        """Record a read; True when the status changed (or this is the first read)."""
        changed = self.last_run is None or self.last_run.status != run.status
        self.last_run = run
        self.seen = True
        if changed:
            # Something is happening: poll at the base rate again.
            self.interval = self.poll_interval
            if not run.status.is_known:
                logger.info("Run %s has status %r; still waiting.", run.id, run.status.value)
            else:
                logger.info("Run %s is %s.", run.id, run.status.value)
        else:
            self.interval = min(self.max_poll_interval, self.interval * self.backoff)
        return changed

    def on_error(self, exc: CyberdeskError, now: datetime) -> None:
        """Re-raise permanent errors; log transient ones (they are polled through)."""
        waited = (now - self.started).total_seconds()
        if is_permanent(exc, seen=self.seen, waited=waited, grace=self.not_found_grace):
            raise exc
        logger.warning("Polling run %s failed, will retry: %s", self.run_id, exc)
        self.interval = min(self.max_poll_interval, self.interval * self.backoff)

    def next_delay(self, now: datetime) -> float:
        """Seconds to sleep before the next read; raises RunTimeoutError past the deadline."""
        if self.deadline is None:
            return self.interval
        remaining = (self.deadline - now).total_seconds()
        if remaining <= 0:
            raise timeout_error(self.run_id, self.deadline, self.last_run)
        return min(self.interval, remaining)
