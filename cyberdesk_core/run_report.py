"""`RunReport`: what one finished run did, built once, for task logs, XCom and artifacts.

The report carries no secret: steps are rendered through the run's `SecretMask`, errors too, and
neither inputs nor outputs are copied in. Screenshots are signed HTTPS links (when signing was
asked for and worked) next to their `supabase://` reference. `build_run_report` (in
`report_building`) fills it from a run with the client; `sum_report_usage` adds up the usage of
a bulk or a chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cyberdesk_core.steps_text import shorten
from cyberdesk_core.usage import RunUsage, sum_usage

__all__ = ["AttachmentRef", "RunReport", "ScreenshotLink", "sum_report_usage"]

_ERROR_CHARS = 500


class ScreenshotLink(BaseModel):
    """A screenshot of the run: its number in the history, reference and signed URL if any."""

    model_config = ConfigDict(frozen=True)

    number: int
    image_url: str
    signed_url: str | None = None

    @property
    def link(self) -> str:
        """The signed URL when there is one, else the reference."""
        return self.signed_url or self.image_url


class AttachmentRef(BaseModel):
    """A file of the run: id, kind (`input`/`output`) and name when known."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    filename: str | None = None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


class RunReport(BaseModel):
    """One finished run: status, durations, where it ran, its last steps, error, screenshots,
    files and usage (JSON-friendly with `model_dump(mode="json")`)."""

    run_id: str
    workflow_id: str
    status: str
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    machine_id: str | None = None
    machine_name: str | None = None
    session_id: str | None = None
    session_alias: str | None = None
    step_count: int = 0
    last_steps: list[str] = Field(default_factory=list)
    error: list[str] = Field(default_factory=list)
    screenshots: list[ScreenshotLink] = Field(default_factory=list)
    attachments: list[AttachmentRef] = Field(default_factory=list)
    usage: RunUsage = Field(default_factory=RunUsage)
    run_url: str | None = None

    @property
    def queued_seconds(self) -> float | None:
        """Seconds from creation to start (None if it never started)."""
        return _seconds(self.created_at, self.started_at)

    @property
    def running_seconds(self) -> float | None:
        """Seconds from start to end (None if it did not both start and end)."""
        return _seconds(self.started_at, self.ended_at)

    @property
    def machine(self) -> str | None:
        """The machine's name with its id, or whichever is known."""
        if self.machine_name and self.machine_id:
            return f"{self.machine_name} ({self.machine_id})"
        return self.machine_name or self.machine_id

    def _facts(self) -> list[tuple[str, str]]:
        facts = [("status", self.status)]
        if self.queued_seconds is not None:
            facts.append(("queued", f"{self.queued_seconds:.1f}s"))
        if self.running_seconds is not None:
            facts.append(("running", f"{self.running_seconds:.1f}s"))
        if self.machine:
            facts.append(("machine", self.machine))
        if self.session_id:
            alias = f" (alias {self.session_alias})" if self.session_alias else ""
            facts.append(("session", self.session_id + alias))
        facts.append(("steps", str(self.step_count)))
        facts.append(("usage", self.usage.describe()))
        return facts

    def _errors(self) -> list[str]:
        return [shorten(e, _ERROR_CHARS) for e in self.error]

    def to_log_lines(self) -> list[str]:
        """Lines for a task log: a summary, the error, the last steps, screenshots, files."""
        facts = ", ".join(f"{k} {v}" for k, v in self._facts())
        lines = [f"Cyberdesk run {self.run_id}: {facts}"]
        lines += [f"  error: {e}" for e in self._errors()]
        if self.last_steps:
            lines.append(f"  last {len(self.last_steps)} steps:")
            lines += [f"    {step}" for step in self.last_steps]
        lines += [f"  screenshot {s.number}: {s.link}" for s in self.screenshots]
        lines += [
            f"  {a.kind} file: {a.filename or '(name unknown)'} ({a.id})" for a in self.attachments
        ]
        if self.run_url:
            lines.append(f"  run page: {self.run_url}")
        return lines

    def to_markdown(self) -> str:
        """A markdown page: facts table, error, last steps, screenshot links, files."""
        out = [f"# Cyberdesk run `{self.run_id}`", "", "| | |", "|---|---|"]
        out += [f"| {k} | {v.replace('|', '/')} |" for k, v in self._facts()]
        if self.run_url:
            out.append(f"| run page | [{self.run_url}]({self.run_url}) |")
        if self.error:
            out += ["", "## Error", ""] + [f"- {e}" for e in self._errors()]
        if self.last_steps:
            out += ["", f"## Last {len(self.last_steps)} steps", ""]
            out += [f"{n}. {step}" for n, step in enumerate(self.last_steps, start=1)]
        if self.screenshots:
            out += ["", "## Screenshots", ""]
            out += [f"- [screenshot {s.number}]({s.link})" for s in self.screenshots]
        if self.attachments:
            out += ["", "## Files", ""]
            out += [f"- {a.kind}: {a.filename or a.id} (`{a.id}`)" for a in self.attachments]
        return "\n".join(out) + "\n"


def sum_report_usage(reports: Iterable[RunReport]) -> RunUsage:
    """The usage of many reports' runs added up (for a bulk or a chain)."""
    return sum_usage(report.usage for report in reports)
