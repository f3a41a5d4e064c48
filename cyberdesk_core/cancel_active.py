"""Cancel the runs that are still active: read first, cancel only what has not ended.

Cancelling is a status update (PATCH status=cancelled) that the API would also apply to a run
that already finished, relabelling e.g. a success as cancelled; so each run is read first and
only a run that has not ended is cancelled. The bulk functions are best effort: a run that
cannot be read or cancelled is logged as a warning and the others are still cancelled.

The read-then-cancel decision and the best-effort policy are written once, as generators of
request `Call`s (`_steps`); the blocking and the asyncio functions only send those calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cyberdesk_core import _run_endpoints as run_endpoints
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.models import Run

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "CancelOutcome",
    "LoggerLike",
    "acancel_active_runs",
    "acancel_if_active",
    "cancel_active_runs",
    "cancel_if_active",
]

R = TypeVar("R")


class LoggerLike(Protocol):
    """Where the cancel functions log: a `logging.Logger`, a `LoggerAdapter`, an Airflow logger."""

    def debug(self, msg: str, /, *args: Any) -> object:
        """Log at debug level."""

    def warning(self, msg: str, /, *args: Any) -> object:
        """Log at warning level."""


_logger = logging.getLogger(__name__)

# The requests of one cancel attempt: every yielded call is sent by a driver, which resumes the
# generator with the parsed reply, or throws into it the exception the call raised.
_Steps = Steps[Run, R]


@dataclass(frozen=True)
class CancelOutcome:
    """What `cancel_if_active` did.

    Attributes:
        run: The run as it stands after the call: as cancelled by it, or as read when it had
            already ended.
        cancelled: True when this call cancelled the run; False when the run had already
            ended and nothing was changed.
    """

    run: Run
    cancelled: bool


def _cancel_steps(run_id: str) -> _Steps[CancelOutcome]:
    run = yield run_endpoints.get_run(run_id)
    if run.is_terminal:
        return CancelOutcome(run, cancelled=False)
    return CancelOutcome((yield run_endpoints.cancel_run(run_id)), cancelled=True)


def _best_effort_steps(run_id: str, log: LoggerLike) -> _Steps[bool]:
    try:
        outcome = yield from _cancel_steps(run_id)
    except Exception as exc:  # best effort: one failing run must not spare the others
        log.warning("Could not cancel Cyberdesk run %s: %s", run_id, exc)
        return False
    if outcome.cancelled:
        # Callers announce what they cancelled (and why) from the returned ids.
        log.debug("Cancelled Cyberdesk run %s.", run_id)
    return outcome.cancelled


def _unique_ids(run_ids: Iterable[str]) -> list[str]:
    # A lone string would otherwise be cancelled character by character.
    if isinstance(run_ids, str):
        raise ConfigurationError("run_ids must be a list of run ids, not a single string.")
    return list(dict.fromkeys(str(run_id) for run_id in run_ids))


def cancel_if_active(client: CyberdeskClient, run_id: str) -> CancelOutcome:
    """Cancel `run_id` unless it has already ended (the run is read first).

    Errors are raised (use `cancel_active_runs` for best effort).

    Returns:
        The run as it stands after the call and whether this call cancelled it.
    """
    return send_steps(client, _cancel_steps(run_id))


async def acancel_if_active(client: AsyncCyberdeskClient, run_id: str) -> CancelOutcome:
    """Async form of `cancel_if_active`."""
    return await asend_steps(client, _cancel_steps(run_id))


def cancel_active_runs(
    client: CyberdeskClient,
    run_ids: Iterable[str],
    *,
    logger: LoggerLike | None = None,
) -> list[str]:
    """Cancel those of `run_ids` that have not ended yet, one after another; best effort.

    Each run is read first and cancelled only if it is still active. A run that cannot be read
    or cancelled is logged as a warning on `logger` (default: this module's logger) and
    skipped. Successes are logged at debug level only: callers announce what they cancelled.
    Repeated ids are handled once.

    Returns:
        The ids this call cancelled, in the order given.
    """
    log = logger if logger is not None else _logger
    return [
        run_id
        for run_id in _unique_ids(run_ids)
        if send_steps(client, _best_effort_steps(run_id, log))
    ]


async def acancel_active_runs(
    client: AsyncCyberdeskClient,
    run_ids: Iterable[str],
    *,
    concurrency: int = 16,
    logger: LoggerLike | None = None,
) -> list[str]:
    """Async `cancel_active_runs`, with at most `concurrency` runs handled at the same time.

    Returns:
        The ids this call cancelled, in the order given.

    Raises:
        ConfigurationError: `concurrency` is below 1.
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}.")
    ids = _unique_ids(run_ids)
    log = logger if logger is not None else _logger
    limiter = asyncio.Semaphore(concurrency)

    async def attempt(run_id: str) -> bool:
        async with limiter:
            return await asend_steps(client, _best_effort_steps(run_id, log))

    done = await asyncio.gather(*(attempt(run_id) for run_id in ids))
    return [run_id for run_id, cancelled in zip(ids, done, strict=True) if cancelled]
