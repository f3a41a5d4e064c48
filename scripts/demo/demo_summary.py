"""The demo's closing summary: every Cyberdesk run, every downloaded file, both verdicts."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from demo_progress import short

from cyberdesk_core import CyberdeskClient, CyberdeskError, Run

ROOT = Path(__file__).resolve().parents[2]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], wrap_last: int) -> str:
    """Left-aligned columns; the last column wraps at ``wrap_last`` characters."""
    widths = [len(h) for h in headers[:-1]]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    indent = sum(widths) + 2 * len(widths)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, [*widths, 0], strict=True)).rstrip()]
    lines.append("-" * min(indent + wrap_last, 160))
    for row in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        wrapped = textwrap.wrap(row[-1], wrap_last) or [""]
        lines.append(f"{head}  {wrapped[0]}".rstrip())
        lines.extend(" " * indent + part for part in wrapped[1:])
    return "\n".join(lines)


def outputs_text(output: dict[str, Any] | None) -> str:
    """``key=value`` pairs of a run's output_data."""
    if not output:
        return "-"
    return ", ".join(f"{key}={value}" for key, value in output.items())


def duration(run: Run) -> str:
    """Seconds from start to end of a finished run."""
    if run.started_at is None or run.ended_at is None:
        return "-"
    return f"{(run.ended_at - run.started_at).total_seconds():.1f}s"


def where(location: str) -> str:
    """A file location relative to the repository when it lies inside it."""
    path = location.removeprefix("file://")
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return location


def size_text(size: int | None) -> str:
    """Human-readable size."""
    if size is None:
        return "?"
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


def run_rows(
    client: CyberdeskClient, reports: Sequence[dict[str, Any]], names: dict[str, str]
) -> list[list[str]]:
    """One row per Cyberdesk run of every pipeline, read fresh from the API."""
    rows: list[list[str]] = []
    for report in reports:
        for run_id in report.get("run_ids") or []:
            try:
                run = client.runs.get(run_id)
            except CyberdeskError as exc:
                rows.append([report["engine"], "?", short(run_id), "unreadable", "-", str(exc)])
                continue
            rows.append(
                [
                    report["engine"],
                    names.get(run.workflow_id, short(run.workflow_id)),
                    short(run.id),
                    str(getattr(run.status, "value", run.status)),
                    duration(run),
                    outputs_text(run.output_data)
                    if run.status == "success"
                    else "; ".join(run.error or []) or "-",
                ]
            )
    return rows


def verdict(report: dict[str, Any]) -> str:
    """One line saying whether the pipeline succeeded and what it checked."""
    took = f"{report.get('duration_s', 0):.1f}s"
    if not report.get("ok"):
        return f"{report['engine']:<8} FAILED after {took}: {report.get('error', 'no report')}"
    check = report.get("validation") or {}
    return (
        f"{report['engine']:<8} succeeded in {took}: period {check.get('period')}, debits "
        f"{check.get('total_debits')} = credits {check.get('total_credits')}, posted batch "
        f"{check.get('posted_batch')}, files checked: {', '.join(check.get('files_checked', []))}"
    )


def render(
    client: CyberdeskClient, reports: Sequence[dict[str, Any]], names: dict[str, str]
) -> str:
    """The whole summary as text."""
    width = shutil.get_terminal_size((120, 40)).columns if os.isatty(1) else 120
    runs = run_rows(client, reports, names)
    used = max((len(r[0]) + len(r[1]) + len(r[2]) + len(r[3]) + len(r[4]) for r in runs), default=0)
    run_table = table(
        ["Engine", "Workflow", "Run", "Status", "Duration", "Outputs"],
        runs,
        wrap_last=max(width - used - 12, 40),
    )
    files = [
        [
            report["engine"],
            item["filename"],
            size_text(item.get("size_bytes")),
            where(item["location"]),
        ]
        for report in reports
        for item in report.get("files") or []
    ]
    file_table = table(["Engine", "File", "Size", "Now at"], files, wrap_last=100)
    parts = [
        "Cyberdesk runs",
        run_table,
        "",
        "Downloaded files",
        file_table if files else "(none)",
        "",
        "Pipelines",
        *(verdict(report) for report in reports),
    ]
    return "\n".join(parts)
