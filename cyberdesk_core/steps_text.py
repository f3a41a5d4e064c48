"""Short human lines for a run's message history: what the agent did, with which tool, and why
it stopped, never with a sensitive value.

`render_steps(run.run_message_history, mask=SecretMask.for_run(run))` gives one line per step,
in order, e.g. ``clicked 'Export' (tool computer.left_click)``, ``typed into 'Amount' (tool
computer.type)``, ``says: Opening the ledger…``, ``screenshot 3``, ``declared the task failed:
<reason> (tool declare_task_failed)``. The history only grows, so the lines of a later snapshot
start with those of an earlier one: a live log prints ``lines[already_printed:]``.

Typed text is never shown (at action time it may be a resolved secret); any other text goes
through `SecretMask`, which hides the run's vault aliases and ``{{...}}`` placeholders, and every
line is cut to `max_chars`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cyberdesk_core.history import HistoryBlock, parse_history

if TYPE_CHECKING:
    from cyberdesk_core.models import Run

__all__ = [
    "DEFAULT_MAX_CHARS",
    "SecretMask",
    "render_agent_steps",
    "render_steps",
    "run_agent_steps",
    "run_step_lines",
    "shorten",
    "strings_in",
]

DEFAULT_MAX_CHARS = 160
MASKED = "[secret]"
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CLICKS = {
    "left_click": "clicked",
    "click": "clicked",
    "right_click": "right-clicked",
    "middle_click": "middle-clicked",
    "double_click": "double-clicked",
    "triple_click": "triple-clicked",
}
_TARGET_KEYS = ("target", "element", "label", "description", "name", "window", "title")
_REASON_KEYS = ("reason", "message", "error", "explanation")
_FAILURE_TOOLS = frozenset({"declare_task_failed", "mark_task_failed", "task_failed"})


def shorten(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """`text` on one line (whitespace collapsed), cut to `max_chars` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max(max_chars - 1, 0)].rstrip() + "…"


def strings_in(value: Any) -> Iterable[str]:
    """Every string (and number, as text) nested in `value`'s mappings and sequences."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


class SecretMask:
    """Hides sensitive values in text: given values (e.g. the run's vault aliases) and any
    ``{{...}}`` placeholder are replaced by ``[secret]``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        # Longest first, so a value containing another is hidden whole.
        self._values = sorted({v for v in values if v.strip()}, key=len, reverse=True)

    @classmethod
    def for_run(cls, run: Run, extra: Any = ()) -> SecretMask:
        """The mask of one run: its `sensitive_input_aliases` values, plus the strings in
        `extra` (values, or a mapping/list nesting them, e.g. `sensitive_input_values`)."""
        return cls([*strings_in(run.sensitive_input_aliases or {}), *strings_in(extra)])

    def __call__(self, text: str) -> str:
        """`text` with every sensitive value replaced."""
        masked = _PLACEHOLDER.sub(MASKED, text)
        for value in self._values:
            masked = masked.replace(value, MASKED)
        return masked


def _quoted(value: Any, mask: SecretMask) -> str:
    return "'" + shorten(mask(str(value)), 60) + "'"


def _where(arguments: Mapping[str, Any], mask: SecretMask) -> str:
    for key in _TARGET_KEYS:
        if arguments.get(key):
            return _quoted(arguments[key], mask)
    point = arguments.get("coordinate")
    if isinstance(point, list | tuple) and len(point) == 2:
        return f"at ({point[0]}, {point[1]})"
    return ""


def _reason(arguments: Mapping[str, Any]) -> str:
    for key in _REASON_KEYS:
        if arguments.get(key):
            return str(arguments[key])
    return "no reason given"


def _tool_action(block: HistoryBlock, mask: SecretMask) -> str:
    """What a `tool_use` block did, without its tool label."""
    tool = block.tool or "unknown tool"
    arguments = block.arguments
    action = str(arguments.get("action") or "")
    where = _where(arguments, mask)
    if tool in _FAILURE_TOOLS or action in _FAILURE_TOOLS:
        return f"declared the task failed: {mask(_reason(arguments))}"
    if action in _CLICKS:
        return f"{_CLICKS[action]} {where}".strip()
    if action == "type":
        return f"typed into {where}" if where else "typed text"
    if action == "key":
        return f"pressed {_quoted(arguments.get('text') or arguments.get('key') or '?', mask)}"
    if action == "scroll":
        return f"scrolled {arguments.get('scroll_direction') or arguments.get('direction') or ''}"
    if action == "screenshot":
        return "took a screenshot"
    if action == "mouse_move":
        return f"moved the pointer {where}".strip()
    if action.endswith("drag"):
        return f"dragged {where}".strip()
    if action == "wait":
        return "waited"
    verb = action.replace("_", " ") if action else f"used {tool}"
    return f"{verb} {where}".strip()


def _tool_label(block: HistoryBlock) -> str:
    action = block.arguments.get("action")
    tool = block.tool or "unknown"
    return f"{tool}.{action}" if isinstance(action, str) and action else tool


def _error_text(block: HistoryBlock) -> str | None:
    if block.error:
        return str(block.error)
    if (block.model_extra or {}).get("is_error") and block.tool_result is not None:
        return str(block.tool_result)
    return None


def render_steps(
    history: Iterable[Any] | None,
    *,
    mask: SecretMask | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[str]:
    """One short line per step of `history` (raw items or `HistoryItem`s), in order.

    Assistant text, tool calls, tool errors and screenshots are rendered; the prompt and other
    user text, and blocks of unknown types, are left out.
    """
    hide = mask or SecretMask()
    raw = [i.model_dump() if hasattr(i, "model_dump") else i for i in history or ()]
    lines: list[str] = []
    screenshots = 0
    for item in parse_history(raw):
        for block in item.content:
            line: str | None = None
            if block.type == "text" and item.role == "assistant" and block.text:
                line = "says: " + hide(block.text)
            elif block.type == "tool_use":
                line = f"{_tool_action(block, hide)} (tool {_tool_label(block)})"
            elif block.type == "tool_result" and (error := _error_text(block)):
                line = "tool error: " + hide(error)
            elif block.type == "image" and block.image:
                screenshots += 1
                line = f"screenshot {screenshots}"
            if line is not None:
                lines.append(shorten(line, max_chars))
    return lines


def _step_line(texts: list[str], actions: list[str], extras: list[str]) -> str | None:
    said = " ".join(texts)
    if actions:
        line = "; ".join(actions)
        line = f"{said}: {line}" if said else line
    elif said:
        line = "says: " + said
    else:
        return None
    return line + (f" [{', '.join(extras)}]" if extras else "")


def render_agent_steps(
    history: Iterable[Any] | None,
    *,
    mask: SecretMask | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[str]:
    """One line per agent step of `history`: what the agent said and did in one assistant
    message, with the errors and screenshots of the tool results that answer it, e.g.
    ``Opening the ledger: double-clicked 'Ledger' (tool computer.double_click) [screenshot
    2]``. What a live log writes (at most one line per step); masked like `render_steps`."""
    hide = mask or SecretMask()
    raw = [i.model_dump() if hasattr(i, "model_dump") else i for i in history or ()]
    lines: list[str] = []
    texts: list[str] = []
    actions: list[str] = []
    extras: list[str] = []
    screenshots = 0

    def close() -> None:
        line = _step_line(texts, actions, extras)
        if line is not None:
            lines.append(shorten(line, max_chars))
        texts.clear()
        actions.clear()
        extras.clear()

    for item in parse_history(raw):
        if item.role == "assistant":
            close()
        for block in item.content:
            if block.type == "text" and item.role == "assistant" and block.text:
                texts.append(hide(block.text))
            elif block.type == "tool_use":
                actions.append(f"{_tool_action(block, hide)} (tool {_tool_label(block)})")
            elif block.type == "tool_result" and (error := _error_text(block)):
                extras.append("tool error: " + hide(error))
            elif block.type == "image" and block.image:
                screenshots += 1
                extras.append(f"screenshot {screenshots}")
    close()
    return lines


def run_agent_steps(
    run: Run, *, max_chars: int = DEFAULT_MAX_CHARS, secrets: Any = ()
) -> list[str]:
    """`render_agent_steps` of a run's own history, masked as `run_step_lines` is."""
    mask = SecretMask.for_run(run, secrets)
    return render_agent_steps(run.run_message_history, mask=mask, max_chars=max_chars)


def run_step_lines(run: Run, *, max_chars: int = DEFAULT_MAX_CHARS, secrets: Any = ()) -> list[str]:
    """`render_steps` of a run's own history, masked with the run's sensitive aliases and the
    plaintext `secrets` the caller sent (e.g. its `sensitive_input_values`)."""
    mask = SecretMask.for_run(run, secrets)
    return render_steps(run.run_message_history, mask=mask, max_chars=max_chars)
