"""HTML of the offline run page: the whole page and the sections its script refreshes.

Every value is escaped here, in one place. The sections (summary, errors, usage, attachments)
and the step items are rendered by the same functions for the first page and for the page's
JSON endpoint, so a refreshed page is the page the server would render anew.
"""

from __future__ import annotations

from html import escape

from cyberdesk_emulator.run_page_assets import SCRIPT, STYLE
from cyberdesk_emulator.run_page_view import AttachmentView, RunPageView, StepView

#: Seconds between two refreshes of an active run's page.
REFRESH_SECONDS = 1.5
SECTIONS = ("summary", "errors", "usage", "attachments")
_BADGE_CLASS = {
    "success": "ok",
    "task_failed": "bad",
    "error": "bad",
    "cancelled": "off",
    "running": "live",
    "running_checks": "live",
    "scheduling": "wait",
}


def duration_text(seconds: float | None) -> str:
    """``1 h 2 min``, ``3 min 5 s``, ``4.2 s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def size_text(size: int) -> str:
    """Bytes in the largest unit that keeps the number at least 1."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def badge(status: str) -> str:
    """The status as a coloured badge."""
    kind = _BADGE_CLASS.get(status, "wait")
    return f'<span class="badge {kind}" data-status="{escape(status)}">{escape(status)}</span>'


def _named(name: str | None, object_id: str | None) -> str:
    if object_id is None:
        return "-"
    label = f"<strong>{escape(name)}</strong> " if name else ""
    return f"{label}<code>{escape(object_id)}</code>"


def _row(label: str, value_html: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{value_html}</td></tr>"


def summary_html(view: RunPageView) -> str:
    """Status, workflow, machine, session, times and durations."""
    session = "-"
    if view.session_id:
        alias = f" (alias <code>{escape(view.session_alias)}</code>)" if view.session_alias else ""
        session = f"<code>{escape(view.session_id)}</code>{alias}"
    running = escape(duration_text(view.running_seconds))
    rows = [
        _row("Status", badge(view.status)),
        _row("Workflow", _named(view.workflow_name, view.workflow_id)),
        _row("Machine", _named(view.machine_name, view.machine_id)),
        _row("Session", session),
        _row("Created", escape(view.created_at or "-")),
        _row("Started", escape(view.started_at or "-")),
        _row("Ended", escape(view.ended_at or "-")),
        _row("Queued for", escape(duration_text(view.queued_seconds))),
        _row("Ran for" if view.terminal else "Running for", running),
        _row("Steps", str(len(view.steps))),
    ]
    if view.output_keys:
        keys = ", ".join(f"<code>{escape(k)}</code>" for k in view.output_keys)
        rows.append(_row("Output keys", keys))
    return f"<table>{''.join(rows)}</table>"


def step_html(step: StepView) -> str:
    """One timeline item: number, time, what the agent did and its screenshots."""
    cached = ' <span class="tag">cached</span>' if step.cached else ""
    images = "".join(
        f'<a href="{escape(url)}" target="_blank" rel="noopener">'
        f'<img class="shot" src="{escape(url)}" alt="Screenshot of step {step.number}" '
        'loading="eager"></a>'
        for url in step.screenshots
    )
    when = f"<time>{escape(step.timestamp)}</time>" if step.timestamp else ""
    return (
        f'<li class="step" data-step="{step.number}"><div class="head">'
        f"<b>Step {step.number}</b>{cached} {when}</div>"
        f'<p class="line">{escape(step.line)}</p>{images}</li>'
    )


def errors_html(view: RunPageView) -> str:
    """The run's error list (the agent's declared reason for ``task_failed``)."""
    if not view.errors:
        return "<p class='muted'>No error.</p>"
    items = "".join(f"<li>{escape(error)}</li>" for error in view.errors)
    return f'<ul class="errors">{items}</ul>'


def usage_html(view: RunPageView) -> str:
    """Agentic and cached steps from ``usage_metadata`` (counted so far while the run is active)."""
    usage = view.usage
    if not usage:
        return "<p class='muted'>No steps counted yet.</p>"
    rows = [
        _row("Agentic steps", escape(str(usage.get("total_agentic_steps", 0)))),
        _row("Cached steps", escape(str(usage.get("total_cached_steps", 0)))),
    ]
    if "billing_outcome" in usage:
        rows.append(_row("Billing", escape(str(usage["billing_outcome"]))))
    note = "" if view.terminal else "<p class='muted'>So far: the run is still active.</p>"
    return f"<table>{''.join(rows)}</table>{note}"


def _attachment_item(att: AttachmentView) -> str:
    return (
        f'<li><span class="tag">{escape(att.kind)}</span> '
        f'<a class="download" href="{escape(att.url)}" download="{escape(att.filename)}">'
        f"{escape(att.filename)}</a> <span class='muted'>{escape(size_text(att.size))}</span></li>"
    )


def attachments_html(view: RunPageView) -> str:
    """Input and output files with their download links."""
    if not view.attachments:
        return "<p class='muted'>No attachments.</p>"
    return f'<ul class="files">{"".join(_attachment_item(a) for a in view.attachments)}</ul>'


def sections_html(view: RunPageView) -> dict[str, str]:
    """The refreshable sections by element id."""
    return {
        "summary": summary_html(view),
        "errors": errors_html(view),
        "usage": usage_html(view),
        "attachments": attachments_html(view),
    }


def _head(title: str, nonce: str, refresh: bool) -> str:
    # Without scripting, an active run's page still refreshes (a full reload).
    fallback = (
        f'<noscript><meta http-equiv="refresh" content="{int(REFRESH_SECONDS) + 1}"></noscript>'
        if refresh
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{fallback}"
        f'<style nonce="{escape(nonce)}">{STYLE}</style></head>'
    )


def page_html(view: RunPageView, live_url: str, nonce: str) -> str:
    """The whole page; while the run is active its script refreshes it from ``live_url``."""
    sections = sections_html(view)
    steps = "".join(step_html(s) for s in view.steps)
    script = (
        f'<script nonce="{escape(nonce)}" id="live" data-url="{escape(live_url)}" '
        f'data-interval="{int(REFRESH_SECONDS * 1000)}">{SCRIPT}</script>'
        if not view.terminal
        else ""
    )
    return (
        _head(f"Run {view.run_id} [{view.status}]", nonce, not view.terminal)
        + f"<body><header><h1>Cyberdesk run <code>{escape(view.run_id)}</code></h1>"
        "<p class='muted'>Local emulator page: inputs and sensitive values are never shown."
        "</p></header><main>"
        f'<section><h2>Run</h2><div id="summary">{sections["summary"]}</div></section>'
        f'<section><h2>Error</h2><div id="errors">{sections["errors"]}</div></section>'
        f'<section><h2>Timeline</h2><ol id="steps">{steps}</ol></section>'
        f'<section><h2>Usage</h2><div id="usage">{sections["usage"]}</div></section>'
        f'<section><h2>Attachments</h2><div id="attachments">{sections["attachments"]}</div>'
        f"</section></main>{script}</body></html>"
    )


def not_found_html(run_id: str, nonce: str) -> str:
    """The page of an unknown run."""
    return (
        _head("Run not found", nonce, False)
        + f"<body><h1>Run not found</h1><p>No run <code>{escape(run_id)}</code> on this "
        "emulator.</p></body></html>"
    )
