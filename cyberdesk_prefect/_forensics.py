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

from cyberdesk_core import RunCancelledError, RunFailedError, RunStatus, raise_for_run_status
from cyberdesk_core._steps import Steps as CoreSteps
from cyberdesk_core._steps import asend_steps, send_steps
from cyberdesk_core.report_building import details_plan, report_steps
from cyberdesk_core.run_names import NAMES
from cyberdesk_core.usage import RunUsage, sum_usage
from cyberdesk_prefect._steps import AsyncClients, Clients, Step
from cyberdesk_prefect.observability import get_logger

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, Run
    from cyberdesk_core.run_report import RunReport

__all__ = ["log_usage", "raise_with_report", "run_reports"]


def _failed(run: Run) -> bool:
    return run.status != RunStatus.SUCCESS


def _machine_name(base_url: str, run: Run) -> str | None:
    """The machine's name if the narrator already looked it up (no request here)."""
    names = NAMES.cached_names(base_url, None, run.machine_id)
    return names.machine if names is not None else None


def _report_request(
    client: CyberdeskClient | AsyncCyberdeskClient, run: Run, details: bool, secrets: Any
) -> CoreSteps[Any, RunReport]:
    return report_steps(
        run,
        secrets=secrets,
        details=details,
        machine_name=_machine_name(client.base_url, run),
        run_url=client.run_url(run.id),
    )


def _building_failed(run: Run, exc: Exception) -> None:
    get_logger().warning("Could not build the report of Cyberdesk run %s: %s", run.id, exc)


def run_reports(runs: Sequence[Run], *, secrets: Any = ()) -> Step[list[RunReport | None]]:
    """The reports of ended `runs`, in order; None where one could not be built.

    Each failed run's report is logged (warning) as soon as it is built.
    """
    runs = list(runs)
    plan = details_plan(runs)

    def blocking(clients: Clients) -> list[RunReport | None]:
        reports: list[RunReport | None] = []
        for run, details in zip(runs, plan, strict=True):
            try:
                client = clients.get()
                report = send_steps(client, _report_request(client, run, details, secrets))
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
                report = await asend_steps(client, _report_request(client, run, details, secrets))
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
