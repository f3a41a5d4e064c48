"""Run reports in a task: built once per finished run, logged, pushed to XCom, quoted in failures.

What a report holds is the core's decision (`cyberdesk_core.report_building`); this module only
translates it into Airflow's world: XCom keys, task-log lines and exception text.

A successful run's report costs no request (``details=False``: status, times, usage from the run
the wait returned). A run that ended otherwise (``error``, ``task_failed``, ``cancelled`` or a
status this version does not know) gets the details: its history is read for the last steps and
its last screenshots are signed. A report that cannot be built is logged and left out; it never
hides the run's own outcome.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context
    from cyberdesk_airflow.hooks import CyberdeskHook
    from cyberdesk_core import Run
    from cyberdesk_core.run_report import RunReport

__all__ = [
    "XCOM_REPORT",
    "XCOM_REPORTS",
    "XCOM_USAGE",
    "build_reports",
    "failure_details",
    "push_reports",
]


class TaskLog(Protocol):
    """The task logger's methods used here (stdlib and Airflow's structured logger alike)."""

    def info(self, msg: Any, /, *args: Any) -> Any:
        """Log at info level."""

    def warning(self, msg: Any, /, *args: Any) -> Any:
        """Log at warning level."""

    def error(self, msg: Any, /, *args: Any) -> Any:
        """Log at error level."""


#: XCom key of the run operator's report (one ``RunReport`` as JSON).
XCOM_REPORT = "cyberdesk_report"
#: XCom key of a bulk's or chain's reports (a list, in run order).
XCOM_REPORTS = "cyberdesk_reports"
#: XCom key of the agent steps the task's runs used, added up (``RunUsage`` as JSON).
XCOM_USAGE = "cyberdesk_usage"


def build_reports(
    hook: CyberdeskHook, runs: Sequence[Run], *, secrets: Any, log: TaskLog
) -> dict[str, RunReport]:
    """The report of each finished run by id; failed runs (the first few) with details.

    Never raises: a report that fails to build is logged and missing from the result.
    """
    from cyberdesk_core.report_building import build_run_report, details_plan

    reports: dict[str, RunReport] = {}
    try:
        with hook.get_client() as client:
            for run, details in zip(runs, details_plan(runs), strict=True):
                try:
                    reports[run.id] = build_run_report(
                        client, run, secrets=secrets, details=details
                    )
                except Exception as exc:  # a report must not replace the run's outcome
                    log.warning("Could not build the report of Cyberdesk run %s: %s", run.id, exc)
    except Exception as exc:  # e.g. the connection could not be read
        log.warning("Could not build Cyberdesk run reports: %s", exc)
    return reports


def push_reports(
    context: Context,
    runs: Sequence[Run],
    reports: dict[str, RunReport],
    *,
    many: bool,
    log: TaskLog,
) -> None:
    """Log failed runs' reports and the usage; push the reports and usage to XCom.

    ``many`` (bulk, chain): the reports go under ``cyberdesk_reports`` as a list in run order
    and the summed usage is logged; otherwise the one report goes under ``cyberdesk_report``.
    """
    from cyberdesk_core.run_report import sum_report_usage

    ordered = [reports[run.id] for run in runs if run.id in reports]
    for report in ordered:
        if report.status != "success":
            for line in report.to_log_lines():
                log.error("%s", line)
    usage = sum_report_usage(ordered)
    ti = context["ti"]
    try:
        if many:
            log.info("Cyberdesk usage: %s", usage.describe())
            ti.xcom_push(key=XCOM_REPORTS, value=[_dump(report) for report in ordered])
        elif ordered:
            ti.xcom_push(key=XCOM_REPORT, value=_dump(ordered[0]))
        ti.xcom_push(key=XCOM_USAGE, value=usage.model_dump(mode="json"))
    except Exception as exc:  # XCom trouble must not replace the run's outcome either
        log.warning("Could not push Cyberdesk run reports to XCom: %s", exc)


def failure_details(reports: Iterable[RunReport | None]) -> str:
    """Text for an exception message: each report's error, last steps and screenshot links."""
    lines = [line for report in reports if report is not None for line in report.to_log_lines()]
    return "\n" + "\n".join(lines) if lines else ""


def _dump(report: RunReport) -> dict[str, Any]:
    # The report holds no inputs and masks secrets in its text (see `cyberdesk_core.run_report`).
    return report.model_dump(mode="json")
