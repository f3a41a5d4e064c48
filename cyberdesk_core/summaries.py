"""Summaries of many runs and the policy deciding when a batch counts as failed.

Shared by the Airflow bulk/chain operators and the Prefect bulk tasks, so both engines report
and fail the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cyberdesk_core.errors import ConfigurationError, RunCancelledError, RunFailedError
from cyberdesk_core.models import Run, RunStatus
from cyberdesk_core.run_names import RunNames, label

__all__ = ["BulkSummary", "FailPolicy", "describe_run"]

_MAX_ERROR_CHARS = 200


def describe_run(run: Run, names: RunNames | None = None) -> str:
    """One-line human summary for logs, e.g. `run 1234 [error] workflow 'Export' (wf-1): boom`.

    `names` (see `run_names`) puts the workflow's and machine's names before their ids."""
    names = names or RunNames()
    parts = [f"run {run.id} [{run.status.value}] workflow {label(names.workflow, run.workflow_id)}"]
    if run.session_alias:
        parts.append(f"alias {run.session_alias}")
    if run.machine_id:
        parts.append(f"machine {label(names.machine, run.machine_id)}")
    if run.started_at and run.ended_at:
        parts.append(f"took {(run.ended_at - run.started_at).total_seconds():.1f}s")
    line = ", ".join(parts)
    if run.error:
        errors = "; ".join(str(e) for e in run.error)
        if len(errors) > _MAX_ERROR_CHARS:
            errors = errors[:_MAX_ERROR_CHARS] + "..."
        line += f": {errors}"
    return line


@dataclass(frozen=True)
class BulkSummary:
    """Counts by status, ids and outputs of a batch of runs (JSON-friendly via `to_dict`)."""

    total: int
    counts: dict[str, int]
    run_ids: list[str]
    succeeded_ids: list[str]
    failed_ids: list[str]
    cancelled_ids: list[str]
    pending_ids: list[str]
    outputs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_runs(cls, runs: Iterable[Run]) -> BulkSummary:
        """Summarise `runs` (order preserved)."""
        items = list(runs)
        counts = Counter(run.status.value for run in items)
        failed = (RunStatus.ERROR, RunStatus.TASK_FAILED)
        return cls(
            total=len(items),
            counts=dict(counts),
            run_ids=[r.id for r in items],
            succeeded_ids=[r.id for r in items if r.status is RunStatus.SUCCESS],
            failed_ids=[r.id for r in items if r.status in failed],
            cancelled_ids=[r.id for r in items if r.status is RunStatus.CANCELLED],
            pending_ids=[r.id for r in items if not r.status.is_terminal],
            outputs={r.id: r.output_data for r in items if r.status is RunStatus.SUCCESS},
            errors={r.id: list(r.error) for r in items if r.error},
            runs=items,
        )

    @property
    def succeeded(self) -> int:
        """Number of successful runs."""
        return len(self.succeeded_ids)

    @property
    def unsuccessful(self) -> int:
        """Failed plus cancelled runs."""
        return len(self.failed_ids) + len(self.cancelled_ids)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (for XCom / Prefect results); no secrets are included."""
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "run_ids": list(self.run_ids),
            "succeeded_ids": list(self.succeeded_ids),
            "failed_ids": list(self.failed_ids),
            "cancelled_ids": list(self.cancelled_ids),
            "pending_ids": list(self.pending_ids),
            "outputs": dict(self.outputs),
            "errors": {k: list(v) for k, v in self.errors.items()},
        }

    def describe(self) -> str:
        """One line: `10 runs: 8 success, 1 error, 1 cancelled`."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        return f"{self.total} runs: {counts or 'none'}"


class FailPolicy(str, Enum):
    """When a batch fails: `any` unsuccessful run, only if `all` are, or `never`."""

    ANY = "any"
    ALL = "all"
    NEVER = "never"

    @classmethod
    def parse(cls, value: FailPolicy | str, field: str = "fail_on") -> FailPolicy:
        """Accept the enum or its string value; unknown values raise ConfigurationError.

        `field` is the caller's parameter name, so the message names what the user wrote.
        """
        try:
            return cls(value)
        except ValueError:
            raise ConfigurationError(
                f"{field} must be one of 'any', 'all', 'never', got {value!r}."
            ) from None

    def check(self, summary: BulkSummary) -> BulkSummary:
        """Raise RunFailedError (or RunCancelledError if every bad run was cancelled) per policy."""
        bad = summary.unsuccessful
        failing = (self is FailPolicy.ANY and bad > 0) or (
            self is FailPolicy.ALL and summary.total > 0 and bad == summary.total
        )
        if not failing:
            return summary
        bad_runs = [
            r for r in summary.runs if r.id in set(summary.failed_ids + summary.cancelled_ids)
        ]
        first = bad_runs[0]
        details = "; ".join(describe_run(r) for r in bad_runs[:5])
        more = f" (+{len(bad_runs) - 5} more)" if len(bad_runs) > 5 else ""
        message = (
            f"{bad} of {summary.total} Cyberdesk runs did not succeed (fail_on={self.value}): "
            f"{details}{more}"
        )
        if not summary.failed_ids:
            raise RunCancelledError(message, first)
        raise RunFailedError(message, next(r for r in bad_runs if r.id in summary.failed_ids))
