"""A cheap signal that a run progressed, so live step logs fetch its history only when needed.

`fields=` on the run list (cyberdesk-api.md 2.4) offers no `updated_at` and no message count: the
history's growth is only visible in `run_message_history` itself, which is large. So the signal
is built from the small fields that do change (`status`, `machine_id`, `started_at`, `ended_at`,
`usage_metadata`): a change means "fetch the history now"; without one, a running run's
history is fetched at a slow cadence (`slow_interval`), never at every tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cyberdesk_core._status import RunStatus

if TYPE_CHECKING:
    from cyberdesk_core.models import Run

__all__ = [
    "DEFAULT_SLOW_INTERVAL",
    "PROGRESS_FIELDS",
    "history_due",
    "progress_due",
    "run_progressed",
]

#: What to pass as `fields=` when listing runs to watch their progress (the base fields
#: `id`, `workflow_id`, `machine_id`, `status` and `created_at` always come back).
PROGRESS_FIELDS: tuple[str, ...] = ("started_at", "ended_at", "usage_metadata")
#: Seconds between history fetches of a running run whose cheap fields did not change.
DEFAULT_SLOW_INTERVAL = 30.0


def _signature(run: Run) -> tuple[Any, ...]:
    return (run.status, run.machine_id, run.started_at, run.ended_at, run.usage_metadata)


def progress_due(
    before: object,
    after: object,
    *,
    running: bool,
    seconds_since_fetch: float,
    slow_interval: float = DEFAULT_SLOW_INTERVAL,
) -> bool:
    """`history_due` on progress tokens (e.g. ``(status, usage_metadata)`` as listed), for a
    watcher that does not build a run for each change: due when the token changed, or while
    running at the slow cadence."""
    return before != after or (running and seconds_since_fetch >= slow_interval)


def run_progressed(before: Run | None, after: Run) -> bool:
    """Whether `after` (a later snapshot of the same run, full or listed with
    `PROGRESS_FIELDS`) shows progress over `before` (None: nothing seen yet)."""
    return before is None or _signature(before) != _signature(after)


def history_due(
    before: Run | None,
    after: Run,
    *,
    seconds_since_fetch: float,
    slow_interval: float = DEFAULT_SLOW_INTERVAL,
) -> bool:
    """Whether to fetch the run's history now: it progressed, or it is running and the last
    fetch is at least `slow_interval` seconds old."""
    return progress_due(
        None if before is None else _signature(before),
        _signature(after),
        running=after.status in (RunStatus.RUNNING, RunStatus.RUNNING_CHECKS),
        seconds_since_fetch=seconds_since_fetch,
        slow_interval=slow_interval,
    )
