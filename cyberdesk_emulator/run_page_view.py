"""What the offline run page shows, gathered from the store: never inputs or secrets.

The page (``routes/dashboard.py``) renders a :class:`RunPageView`. Each step's line comes from
the core renderer (``cyberdesk_core.steps_text.render_agent_steps``: what the agent said and did
in one assistant message, with its tool errors), which never shows typed text; every other text
of the agent (its words, the error) is masked for the run's sensitive values (vault aliases and
their plaintext, the machine's and pools' too) and for its input values, which the page never
shows either. The emulator writes no plaintext secret into a history (templates mask them); the
mask also covers what a client wrote there while the vault still holds the values (the run's
are forgotten when it ends). Screenshots and attachments are served through the emulator's
key-less signed routes; their expiry is rounded up to a window so a refreshing page keeps the
same URLs (the browser reuses the images it already has).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cyberdesk_core.steps_text import SecretMask, render_agent_steps, strings_in
from cyberdesk_emulator.agent_steps import IMAGE_PREFIX, parse_image_url
from cyberdesk_emulator.execution import effective_secrets
from cyberdesk_emulator.runtime import Emulator
from cyberdesk_emulator.state import Run, utcnow
from cyberdesk_emulator.wire import iso

#: Signed URLs of the page expire at the end of the next window of this many seconds.
SIGNED_URL_WINDOW = 600
INPUT_MASK = "[input]"
#: Single characters are not masked as inputs: they would garble every line and reveal little.
MIN_MASKED_INPUT_CHARS = 2
IMAGES_PATH = "/_files/run-images"
ATTACHMENTS_PATH = "/_files/run-attachments"


@dataclass(frozen=True)
class StepView:
    """One agent step: its human line and the screenshots its tool answered with."""

    number: int
    timestamp: str | None
    line: str
    screenshots: list[str]
    cached: bool


@dataclass(frozen=True)
class AttachmentView:
    """An input or output file with its key-less download link."""

    filename: str
    kind: str
    size: int
    url: str


@dataclass(frozen=True)
class RunPageView:
    """Everything the page shows about one run."""

    run_id: str
    status: str
    terminal: bool
    workflow_id: str
    workflow_name: str | None
    machine_id: str | None
    machine_name: str | None
    session_id: str | None
    session_alias: str | None
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    queued_seconds: float | None
    running_seconds: float | None
    steps: list[StepView]
    errors: list[str]
    usage: dict[str, Any] | None
    attachments: list[AttachmentView]
    output_keys: list[str]


class PageMask(SecretMask):
    """The core mask (sensitive values become ``[secret]``) that also hides input values."""

    def __init__(self, emu: Emulator, run: Run) -> None:
        machine = emu.store.machines.get(run.machine_id or "")
        aliases = [
            *(run.sensitive_input_aliases or {}).values(),
            *((machine.sensitive_aliases or {}).values() if machine else ()),
        ]
        super().__init__([*aliases, *strings_in(effective_secrets(emu.store, run, machine))])
        inputs = {s for s in strings_in(run.input_values) if len(s) >= MIN_MASKED_INPUT_CHARS}
        self._inputs = sorted(inputs, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """``text`` without sensitive values and input values."""
        masked = super().__call__(text)
        for value in self._inputs:
            masked = masked.replace(value, INPUT_MASK)
        return masked


def _expiry(now: float | None = None) -> int:
    current = int(time.time() if now is None else now)
    return (current // SIGNED_URL_WINDOW + 2) * SIGNED_URL_WINDOW


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def _without_images(item: dict[str, Any]) -> dict[str, Any]:
    content = item.get("content")
    if not isinstance(content, list):
        return item
    kept = [b for b in content if not (isinstance(b, dict) and b.get("type") == "image")]
    return {**item, "content": kept}


def _image_refs(item: dict[str, Any]) -> list[str]:
    content = item.get("content")
    blocks = content if isinstance(content, list) else []
    return [
        str(b["image_url"])
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "image" and b.get("image_url")
    ]


def _signed_image(emu: Emulator, run: Run, ref: str, expires: int) -> str | None:
    parsed = parse_image_url(ref)
    if parsed is None or parsed[0] != run.org_id or parsed[1] != run.id:
        return None
    path = ref[len(IMAGE_PREFIX) :]
    return f"{IMAGES_PATH}/{path}?{emu.signer.signed_query(path, expires)}"


def _group(history: list[Any]) -> list[list[dict[str, Any]]]:
    """Items per step: an assistant message starts one, the tool's answers follow it."""
    groups: list[list[dict[str, Any]]] = []
    for item in history:
        if not isinstance(item, dict):
            continue
        if item.get("role") == "assistant" or not groups:
            groups.append([])
        groups[-1].append(item)
    return groups


def build_steps(emu: Emulator, run: Run, mask: PageMask, expires: int) -> list[StepView]:
    """The run's timeline, one :class:`StepView` per agent step, oldest first."""
    steps = []
    for number, items in enumerate(_group(run.run_message_history or []), start=1):
        # The screenshots are shown as images, not as the renderer's "[screenshot N]" notes.
        lines = render_agent_steps([_without_images(i) for i in items], mask=mask)
        screenshots = [
            url
            for item in items
            for ref in _image_refs(item)
            if (url := _signed_image(emu, run, ref, expires)) is not None
        ]
        first = items[0]
        steps.append(
            StepView(
                number=number,
                timestamp=str(first["timestamp"]) if first.get("timestamp") else None,
                line=" ".join(lines) or "(no action)",
                screenshots=screenshots,
                cached=bool(first.get("trajectory_id")),
            )
        )
    return steps


def _attachments(emu: Emulator, run: Run, expires: int) -> list[AttachmentView]:
    views = []
    for kind, ids in (("input", run.input_attachment_ids), ("output", run.output_attachment_ids)):
        for att_id in ids:
            att = emu.store.attachments.get(att_id)
            if att is None or att.org_id != run.org_id:
                continue
            url = f"{ATTACHMENTS_PATH}/{att.id}?{emu.signer.signed_query(att.id, expires)}"
            views.append(AttachmentView(att.filename, kind, att.blob.size, url))
    return views


def build_view(emu: Emulator, run: Run, now: float | None = None) -> RunPageView:
    """The page's view of ``run`` right now."""
    store = emu.store
    workflow = store.workflows.get(run.workflow_id)
    machine = store.machines.get(run.machine_id or "")
    mask = PageMask(emu, run)
    expires = _expiry(now)
    running_until = run.ended_at or (utcnow() if run.started_at else None)
    return RunPageView(
        run_id=run.id,
        status=run.status.value,
        terminal=run.status.is_terminal,
        workflow_id=run.workflow_id,
        workflow_name=workflow.fields.get("name") if workflow else None,
        machine_id=run.machine_id,
        machine_name=machine.fields.get("name") if machine else None,
        session_id=run.session_id,
        session_alias=run.session_alias,
        created_at=iso(run.created_at),
        started_at=iso(run.started_at),
        ended_at=iso(run.ended_at),
        queued_seconds=_seconds(run.created_at, run.started_at),
        running_seconds=_seconds(run.started_at, running_until),
        steps=build_steps(emu, run, mask, expires),
        errors=[mask(str(e)) for e in run.error or []],
        usage=dict(run.usage_metadata) if run.usage_metadata else None,
        attachments=_attachments(emu, run, expires),
        output_keys=sorted(str(k) for k in (run.output_data or {})),
    )
