"""One table artifact per bulk wait or chain: a row per run, with what it cost.

Columns: run id, alias (a chain step's; empty for a bulk run), status, agentic steps, cached
steps, the error shortened, the run page. The key is `cyberdesk-table-<first run id>`, so a
retried task updates the same table. Like every artifact here it holds nothing secret (the
errors were masked when the reports were built) and failing to create it never fails the run.
"""

from __future__ import annotations

from typing import Any

from cyberdesk_prefect._steps import Step, local
from cyberdesk_prefect.observability import artifact_key, get_logger, in_run_context
from cyberdesk_prefect.results import CyberdeskRunResult

__all__ = ["run_table", "run_table_rows"]

_MAX_ROWS = 1000
_ERROR_CHARS = 160


def _error(result: CyberdeskRunResult) -> str:
    errors = result.report.error if result.report is not None else result.error or []
    text = "; ".join(errors).replace("\n", " ")
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


def run_table_rows(results: list[CyberdeskRunResult]) -> list[dict[str, Any]]:
    """The table's rows, one per run in order (at most 1000)."""
    return [
        {
            "run_id": result.run_id,
            "alias": result.session_alias or "",
            "status": result.status,
            "agentic_steps": result.usage.agentic_steps,
            "cached_steps": result.usage.cached_steps,
            "error": _error(result),
            "run_page": result.run_url,
        }
        for result in results[:_MAX_ROWS]
    ]


def _key(results: list[CyberdeskRunResult]) -> str:
    return artifact_key(results[0].run_id).replace("cyberdesk-run-", "cyberdesk-table-", 1)


def _description(results: list[CyberdeskRunResult], what: str) -> str:
    from cyberdesk_core.usage import sum_usage

    usage = sum_usage(r.usage for r in results)
    return f"Cyberdesk {what} of {len(results)} runs: {usage.describe()}"


def _create(results: list[CyberdeskRunResult], what: str) -> None:
    if not results or not in_run_context():
        return
    from prefect.artifacts import create_table_artifact

    try:
        create_table_artifact(  # type: ignore[call-arg]
            table=run_table_rows(results),
            key=_key(results),
            description=_description(results, what),
            _sync=True,
        )
    except Exception as exc:  # the artifact is a convenience; never fail the run for it
        get_logger().warning("Could not create the Cyberdesk %s table artifact: %s", what, exc)


async def _acreate(results: list[CyberdeskRunResult], what: str) -> None:
    if not results or not in_run_context():
        return
    from prefect.artifacts import acreate_table_artifact

    try:
        await acreate_table_artifact(
            table=run_table_rows(results),
            key=_key(results),
            description=_description(results, what),
        )
    except Exception as exc:
        get_logger().warning("Could not create the Cyberdesk %s table artifact: %s", what, exc)


def run_table(results: list[CyberdeskRunResult], what: str) -> Step[None]:
    """The step that creates the table artifact of a batch (`what`: "bulk", "chain")."""
    return local(lambda: _create(results, what), lambda: _acreate(results, what))
