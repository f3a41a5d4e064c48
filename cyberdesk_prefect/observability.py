"""What a Cyberdesk run shows in Prefect: logs, events and a markdown artifact.

The dashboard URL is logged once when a run is created and each status change is logged
once (never each poll; for an awaited run the core's `RunNarrator` writes that line, with
names). Every status change also becomes a Prefect event `cyberdesk.run.<status>` about the
resource `cyberdesk.run.<id>`, so Automations can react to Cyberdesk outcomes. When a run ends
a markdown artifact keyed `cyberdesk-run-<id>` sums it up, followed by its report (last
steps, error, screenshot links, usage).
Nothing secret is ever part of them.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from prefect.context import FlowRunContext, TaskRunContext
from prefect.exceptions import MissingContextError
from prefect.logging.loggers import get_run_logger

if TYPE_CHECKING:
    from cyberdesk_core import Run
    from cyberdesk_prefect.results import CyberdeskRunResult

_fallback_logger = logging.getLogger("cyberdesk_prefect")
_MAX_OUTPUT_CHARS = 2000
_MAX_BATCH_ROWS = 200


def get_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The Prefect run logger inside a flow or task run, else the module logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback_logger


def in_run_context() -> bool:
    """True inside a Prefect flow run or task run."""
    return TaskRunContext.get() is not None or FlowRunContext.get() is not None


def _status(run: Run) -> str:
    return str(getattr(run.status, "value", run.status))


def run_event_resource(run: Run, run_url: str | None = None) -> dict[str, str]:
    """The Prefect event resource describing a Cyberdesk run."""
    resource = {
        "prefect.resource.id": f"cyberdesk.run.{run.id}",
        "prefect.resource.name": f"cyberdesk-run-{run.id}",
        "cyberdesk.workflow.id": str(run.workflow_id),
        "cyberdesk.run.status": _status(run),
    }
    if run_url:
        resource["cyberdesk.run.url"] = run_url
    return resource


def events_have_a_destination() -> bool:
    """True inside a flow or task run, or when a Prefect API URL is configured.

    Outside both (a task body called with `.fn()` in a plain script with no API), Prefect's
    events worker has nowhere to send to and would fail once per event.
    """
    if in_run_context():
        return True
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def emit_run_event(run: Run, run_url: str | None = None) -> None:
    """Emit `cyberdesk.run.<status>` for a run; failures to emit never fail the caller."""
    if not events_have_a_destination():
        return
    from prefect.events import emit_event

    related: list[dict[str, str]] = [
        {
            "prefect.resource.id": f"cyberdesk.workflow.{run.workflow_id}",
            "prefect.resource.role": "cyberdesk-workflow",
        }
    ]
    session_id = getattr(run, "session_id", None)
    if session_id:
        related.append(
            {
                "prefect.resource.id": f"cyberdesk.session.{session_id}",
                "prefect.resource.role": "cyberdesk-session",
            }
        )
    payload: dict[str, Any] = {"status": _status(run)}
    if getattr(run, "error", None):
        payload["error"] = list(run.error or [])[:5]
    try:
        emit_event(
            event=f"cyberdesk.run.{_status(run)}",
            resource=run_event_resource(run, run_url),
            related=related,
            payload=payload,
        )
    except Exception as exc:  # an oversized or rejected event must not fail the run
        get_logger().warning("Could not emit the Cyberdesk run event: %s", exc)


class RunReporter:
    """Logs and emits each status change of the runs it sees, once per change.

    Thread-safe: the same reporter may see updates from several waiting threads.
    """

    def __init__(self, *, emit_events: bool = True) -> None:
        self.emit_events = emit_events
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def created(self, run: Run, run_url: str, *, action: str = "created") -> None:
        """Log the dashboard URL once for a new (re-attached, retried) run."""
        get_logger().info(
            "Cyberdesk run %s %s (workflow %s, status %s): %s",
            run.id,
            action,
            run.workflow_id,
            _status(run),
            run_url,
        )
        self.update(run, run_url, log=False)

    def update(self, run: Run, run_url: str | None = None, *, log: bool = True) -> None:
        """Record a polled run; logs and emits only when its status changed."""
        status = _status(run)
        with self._lock:
            if self._last.get(str(run.id)) == status:
                return
            self._last[str(run.id)] = status
        if log:
            level = (
                logging.WARNING if status in ("error", "task_failed", "cancelled") else logging.INFO
            )
            message = "Cyberdesk run %s is now %s"
            args: list[Any] = [run.id, status]
            if status in ("error", "task_failed") and run.error:
                message += ": %s"
                args.append("; ".join(run.error)[:500])
            get_logger().log(level, message, *args)
        if self.emit_events:
            emit_run_event(run, run_url)


def artifact_key(run_id: str) -> str:
    """Artifact key of a run: lowercase letters, digits and dashes only."""
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in str(run_id).lower())
    return f"cyberdesk-run-{cleaned}"


def run_markdown(result: CyberdeskRunResult) -> str:
    """A short markdown summary of a finished run."""
    import json

    lines = [
        f"### Cyberdesk run `{result.run_id}`",
        "",
        "| Field | Value |",
        "|---|---|",
        f"| Status | **{result.status}** |",
        f"| Workflow | `{result.workflow_id}` |",
        f"| Dashboard | [{result.run_url}]({result.run_url}) |",
    ]
    if result.session_id:
        alias = f" (alias `{result.session_alias}`)" if result.session_alias else ""
        lines.append(f"| Session | `{result.session_id}`{alias} |")
    if result.duration_seconds is not None:
        lines.append(f"| Duration | {result.duration_seconds:.1f} s |")
    if result.error:
        lines += ["", "**Errors**", ""] + [f"- {_md_escape(e)}" for e in result.error[:10]]
    if result.output_data is not None:
        rendered = json.dumps(result.output_data, indent=2, default=str)
        if len(rendered) > _MAX_OUTPUT_CHARS:
            rendered = rendered[:_MAX_OUTPUT_CHARS] + "\n... (truncated)"
        lines += ["", "**Output data**", "", "```json", rendered, "```"]
    if result.attachments:
        lines += ["", "**Attachments**", ""]
        for info in result.attachments:
            where = f" -> `{info.path}`" if info.path else ""
            size = f" ({info.size_bytes} bytes)" if info.size_bytes is not None else ""
            lines.append(f"- `{_md_escape(info.filename)}`{size}{where}")
    if result.report is not None:
        # The report without its title (the summary above names the run), headings below ours.
        body = result.report.to_markdown().split("\n", 1)[1]
        lines += ["", "**Report**", body.replace("\n## ", "\n#### ")]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def create_run_artifact(result: CyberdeskRunResult) -> None:
    """Create the run's markdown artifact (sync); only inside a flow or task run."""
    if not in_run_context():
        return
    from prefect.artifacts import create_markdown_artifact

    try:
        create_markdown_artifact(  # type: ignore[call-arg]
            markdown=run_markdown(result),
            key=artifact_key(result.run_id),
            description=f"Cyberdesk run {result.run_id}: {result.status}",
            _sync=True,
        )
    except Exception as exc:  # the artifact is a convenience; never fail the run for it
        get_logger().warning("Could not create the Cyberdesk run artifact: %s", exc)


async def acreate_run_artifact(result: CyberdeskRunResult) -> None:
    """Create the run's markdown artifact (async); only inside a flow or task run."""
    if not in_run_context():
        return
    from prefect.artifacts import acreate_markdown_artifact

    try:
        await acreate_markdown_artifact(
            markdown=run_markdown(result),
            key=artifact_key(result.run_id),
            description=f"Cyberdesk run {result.run_id}: {result.status}",
        )
    except Exception as exc:
        get_logger().warning("Could not create the Cyberdesk run artifact: %s", exc)


def batch_markdown(results: list[CyberdeskRunResult]) -> str:
    """A markdown summary of many runs: counts by status, then one row per run."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    lines = [
        f"### Cyberdesk runs ({len(results)})",
        "",
        ", ".join(f"**{n}** {status}" for status, n in sorted(counts.items())),
        "",
        "| Run | Status | Session alias | Error |",
        "|---|---|---|---|",
    ]
    for result in results[:_MAX_BATCH_ROWS]:
        error = _md_escape("; ".join(result.error))[:200] if result.error else ""
        lines.append(
            f"| [{result.run_id}]({result.run_url}) | {result.status} | "
            f"{result.session_alias or ''} | {error} |"
        )
    if len(results) > _MAX_BATCH_ROWS:
        lines.append(f"| ... {len(results) - _MAX_BATCH_ROWS} more | | | |")
    return "\n".join(lines)


def _batch_key(results: list[CyberdeskRunResult]) -> str:
    return artifact_key(results[0].run_id).replace("cyberdesk-run-", "cyberdesk-batch-", 1)


def create_batch_artifact(results: list[CyberdeskRunResult]) -> None:
    """One markdown artifact for a batch of runs (sync); only inside a flow or task run."""
    if not results or not in_run_context():
        return
    from prefect.artifacts import create_markdown_artifact

    try:
        create_markdown_artifact(  # type: ignore[call-arg]
            markdown=batch_markdown(results),
            key=_batch_key(results),
            description=f"{len(results)} Cyberdesk runs",
            _sync=True,
        )
    except Exception as exc:
        get_logger().warning("Could not create the Cyberdesk batch artifact: %s", exc)


async def acreate_batch_artifact(results: list[CyberdeskRunResult]) -> None:
    """One markdown artifact for a batch of runs (async); only inside a flow or task run."""
    if not results or not in_run_context():
        return
    from prefect.artifacts import acreate_markdown_artifact

    try:
        await acreate_markdown_artifact(
            markdown=batch_markdown(results),
            key=_batch_key(results),
            description=f"{len(results)} Cyberdesk runs",
        )
    except Exception as exc:
        get_logger().warning("Could not create the Cyberdesk batch artifact: %s", exc)
