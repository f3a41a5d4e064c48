"""What an ended run leaves in Prefect: its `RunReport`, logged and raised when it failed.

The report itself is the core's (`cyberdesk_core.report_building`): a successful run's costs
no request (`details=False`: status, times, usage, the steps it carries); a run that ended
`error`, `task_failed` or `cancelled` gets the details (history, file names, signed links to
its last screenshots). Here the report is written to the run logger, added to the raised
exception's message, and the usage is summed in one log line for a bulk or a chain. Building
a report never hides the original outcome: a report that cannot be built is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cyberdesk_core import RunCancelledError, RunFailedError, raise_for_run_status
from cyberdesk_core.report_building import abuild_run_report, build_run_report
from cyberdesk_core.run_names import NAMES
from cyberdesk_core.usage import RunUsage, sum_usage
from cyberdesk_prefect._steps import AsyncClients, Clients, Step
from cyberdesk_prefect.observability import get_logger

if TYPE_CHECKING:
    from cyberdesk_core import Run
    from cyberdesk_core.run_report import RunReport

__all__ = ["FAILED_STATUSES", "log_usage", "raise_with_report", "run_reports"]

#: Ended statuses whose report carries the details (history, screenshots, file names).
FAILED_STATUSES = frozenset({"error", "task_failed", "cancelled"})
#: Failed runs of one batch whose details are read, at most (each costs a few requests).
MAX_DETAILED_REPORTS = 20
#: Last screenshots a failed run's report links to (signed).
_MAX_SCREENSHOTS = 3


def _failed(run: Run) -> bool:
    return str(run.status.value) in FAILED_STATUSES


def _plan(runs: Sequence[Run]) -> list[bool]:
    """Per run, whether its report gets the details: the first failed runs of the batch."""
    plan: list[bool] = []
    detailed = 0
    for run in runs:
        details = _failed(run) and detailed < MAX_DETAILED_REPORTS
        detailed += details
        plan.append(details)
    return plan


def _shots(details: bool) -> int:
    # Unsigned screenshot references open nowhere: only a detailed report lists screenshots.
    return _MAX_SCREENSHOTS if details else 0


def _machine_name(base_url: str, run: Run) -> str | None:
    """The machine's name if the narrator already looked it up (no request here)."""
    names = NAMES.cached_names(base_url, None, run.machine_id)
    return names.machine if names is not None else None


def _building_failed(run: Run, exc: Exception) -> None:
    get_logger().warning("Could not build the report of Cyberdesk run %s: %s", run.id, exc)


def run_reports(runs: Sequence[Run], *, secrets: Any = ()) -> Step[list[RunReport | None]]:
    """The reports of ended `runs`, in order; None where one could not be built.

    Each failed run's report is logged (warning) as soon as it is built.
    """
    runs = list(runs)
    plan = _plan(runs)

    def blocking(clients: Clients) -> list[RunReport | None]:
        reports: list[RunReport | None] = []
        for run, details in zip(runs, plan, strict=True):
            try:
                client = clients.get()
                shots = _shots(details)
                report = build_run_report(
                    client,
                    run,
                    secrets=secrets,
                    details=details,
                    max_screenshots=shots,
                    machine_name=_machine_name(client.base_url, run),
                )
            except Exception as exc:  # a report is a convenience; the run's outcome stands
                _building_failed(run, exc)
                report = None
            reports.append(_logged(run, report))
        return reports

    async def asyncio(clients: AsyncClients) -> list[RunReport | None]:
        reports: list[RunReport | None] = []
        for run, details in zip(runs, plan, strict=True):
            try:
                client = await clients.get()
                shots = _shots(details)
                report = await abuild_run_report(
                    client,
                    run,
                    secrets=secrets,
                    details=details,
                    max_screenshots=shots,
                    machine_name=_machine_name(client.base_url, run),
                )
            except Exception as exc:
                _building_failed(run, exc)
                report = None
            reports.append(_logged(run, report))
        return reports

    return Step(blocking, asyncio)


def _logged(run: Run, report: RunReport | None) -> RunReport | None:
    if report is not None and _failed(run):
        get_logger().warning("%s", "\n".join(report.to_log_lines()))
    return report


def raise_with_report(run: Run, report: RunReport | None) -> None:
    """`raise_for_run_status(run)`, the exception's message completed by the report's lines."""
    try:
        raise_for_run_status(run)
    except (RunFailedError, RunCancelledError) as exc:
        if report is None:
            raise
        message = "\n".join([str(exc), *report.to_log_lines()])
        raise type(exc)(message, exc.run) from None


def log_usage(usages: Sequence[RunUsage], what: str) -> RunUsage:
    """Log one line with the summed usage of `what` (e.g. `bulk`, `chain`) and return it."""
    total = sum_usage(usages)
    get_logger().info("Cyberdesk %s usage: %s", what, total.describe())
    return total
