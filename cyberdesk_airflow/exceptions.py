"""Exceptions raised by the Cyberdesk provider.

They derive from ``RuntimeError`` (not ``AirflowException``), following the current community
rule for providers; Airflow fails the task, and retries it when the task has retries left.
Messages carry run ids, statuses and the run's error list, never inputs or credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cyberdesk_core import Run


class CyberdeskProviderError(RuntimeError):
    """Root of the provider's exceptions."""


class CyberdeskRunFailedError(CyberdeskProviderError):
    """A run ended as ``task_failed``, ``error``, ``cancelled`` or an unknown terminal status."""

    def __init__(
        self, message: str, *, run_id: str, status: str, errors: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.errors = list(errors or [])


class CyberdeskRunTimeoutError(CyberdeskProviderError):
    """The runs did not finish before the deadline; they were cancelled."""

    def __init__(self, message: str, *, run_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.run_ids = list(run_ids)


class CyberdeskChainStepFailedError(CyberdeskRunFailedError):
    """A step of a chain failed; ``step`` is its alias (or ``step_<n>`` when it has none)."""

    def __init__(
        self,
        message: str,
        *,
        step: str,
        run_id: str,
        status: str,
        errors: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id, status=status, errors=errors)
        self.step = step


class CyberdeskBulkRunFailedError(CyberdeskProviderError):
    """Runs of a bulk request failed beyond the operator's ``fail_on`` policy."""

    def __init__(self, message: str, *, failed_run_ids: Sequence[str]) -> None:
        super().__init__(message)
        self.failed_run_ids = list(failed_run_ids)


class CyberdeskWaitError(CyberdeskProviderError):
    """Waiting stopped on a non-transient API error (bad credentials, unknown run, ...)."""


def describe_failure(run: Run) -> str:
    """``status: error1; error2`` for a finished run (``no error details`` without errors)."""
    errors = "; ".join(run.error or []) or "no error details"
    return f"{run.status}: {errors}"


def raise_for_run(run: Run, *, what: str = "Cyberdesk run", details: str = "") -> Run:
    """Return ``run`` when it succeeded; raise :class:`CyberdeskRunFailedError` for any other end.

    ``task_failed``, ``error``, ``cancelled`` and statuses this version does not know all fail.
    ``details`` (the run's report: last steps, screenshot links) is appended to the message.
    """
    if run.status == "success":
        return run
    raise CyberdeskRunFailedError(
        f"{what} {run.id} (workflow {run.workflow_id}) ended with status {describe_failure(run)}"
        + details,
        run_id=run.id,
        status=str(run.status),
        errors=run.error,
    )
