"""History parsing (tolerant), the step renderer (masking, bounds) and the progress signal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core_fakes import T0, run_json

from cyberdesk_core import (
    HistoryItem,
    Run,
    RunStatus,
    SecretMask,
    history_due,
    parse_history,
    render_agent_steps,
    render_steps,
    run_progressed,
    run_step_lines,
)
from cyberdesk_core.steps_text import shorten

VAULT_ALIAS = "tok_vault_9f3a7c21"
PLAINTEXT = "hunter2-plaintext"


def _step(text: str, tool_input: dict[str, Any], tool: str = "computer") -> list[dict[str, Any]]:
    return [
        {
            "role": "assistant",
            "timestamp": T0.isoformat(),
            "content": [
                {"type": "text", "text": text},
                {
                    "type": "tool_use",
                    "tool_use_id": "t1",
                    "tool_name": tool,
                    "tool_input": tool_input,
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "tool_result": "ok"},
                {"type": "image", "image_url": "supabase://run-images/r/1.png"},
            ],
        },
    ]


HISTORY: list[Any] = [
    {"role": "user", "content": [{"type": "text", "text": "Export the ledger for 2026-10"}]},
    *_step("Opening the ledger", {"action": "left_click", "target": "Export"}),
    *_step("Log in", {"action": "type", "target": "Password", "text": PLAINTEXT}),
    *_step("Using the token " + VAULT_ALIAS, {"action": "key", "text": "{{password}}"}),
    {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "name": "declare_task_failed", "input": {"reason": "no rows"}}
        ],
    },
]


def _run(history: Any, **extra: Any) -> Run:
    return Run.model_validate(
        run_json(
            run_message_history=history,
            sensitive_input_aliases={"password": VAULT_ALIAS},
            **extra,
        )
    )


def test_renders_one_short_line_per_step() -> None:
    lines = run_step_lines(_run(HISTORY))
    assert lines[:3] == [
        "says: Opening the ledger",
        "clicked 'Export' (tool computer.left_click)",
        "screenshot 1",
    ]
    assert "typed into 'Password' (tool computer.type)" in lines
    assert lines[-1] == "declared the task failed: no rows (tool declare_task_failed)"
    assert "screenshot 3" in lines
    assert not any("2026-10" in line for line in lines)  # the prompt is not a step


def test_agent_steps_are_one_line_per_assistant_message() -> None:
    mask = SecretMask.for_run(_run(HISTORY), {"pw": PLAINTEXT})
    lines = render_agent_steps(HISTORY, mask=mask)
    assert lines == [
        "Opening the ledger: clicked 'Export' (tool computer.left_click) [screenshot 1]",
        "Log in: typed into 'Password' (tool computer.type) [screenshot 2]",
        "Using the token [secret]: pressed '[secret]' (tool computer.key) [screenshot 3]",
        "declared the task failed: no rows (tool declare_task_failed)",
    ]
    early = render_agent_steps(HISTORY[:3], mask=mask)
    assert lines[: len(early)] == early  # a growing history extends earlier lines
    assert render_agent_steps(
        [{"role": "assistant", "content": [{"type": "text", "text": "Done"}]}]
    ) == ["says: Done"]


def test_sensitive_values_never_appear() -> None:
    lines = run_step_lines(_run(HISTORY))
    text = "\n".join(lines)
    for secret in (PLAINTEXT, VAULT_ALIAS, "{{password}}"):
        assert secret not in text
    assert "says: Using the token [secret]" in lines
    assert "pressed '[secret]' (tool computer.key)" in lines


def test_lines_are_bounded() -> None:
    history = _step("word " * 500, {"action": "left_click", "target": "x" * 500})
    lines = render_steps(history, max_chars=80)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].endswith("…")
    assert shorten("a\n b\t c", 10) == "a b c"


def test_odd_history_never_crashes() -> None:
    history: list[Any] = [
        "not an object",
        None,
        {"role": "assistant", "content": "plain string content"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "..."}, 42, "text"]},
        {"role": "assistant", "content": [{"type": "tool_use", "tool_input": "not a dict"}]},
        {"role": "user", "content": [{"type": "tool_result", "error": "window not found"}]},
        {"role": "user", "content": [{"type": "image", "source": {"url": "supabase://x.png"}}]},
        {"timestamp": "not a time", "content": None, "extra": {"any": "thing"}},
    ]
    items = parse_history(history)
    assert len(items) == 6
    assert all(isinstance(item, HistoryItem) for item in items)
    assert items[1].content[0].type == "thinking"
    assert items[1].content[0].model_extra == {"thinking": "..."}
    lines = render_steps(history)
    assert lines == [
        "says: plain string content",
        "says: text",
        "used unknown tool (tool unknown)",
        "tool error: window not found",
        "screenshot 1",
    ]
    assert render_steps(None) == []


def test_lines_of_a_growing_history_extend_earlier_ones() -> None:
    early = render_steps(HISTORY[:3])
    assert render_steps(HISTORY)[: len(early)] == early


def test_mask_hides_given_values_and_placeholders() -> None:
    mask = SecretMask(["abc", "abcdef", " "])
    assert mask("x abcdef y abc {{ token }}") == "x [secret] y [secret] [secret]"


def test_progress_signal_uses_cheap_fields() -> None:
    queued = _run(None, status="scheduling")
    started = queued.model_copy(update={"status": RunStatus.RUNNING, "started_at": T0})
    assert run_progressed(None, queued)
    assert run_progressed(queued, started)
    assert not run_progressed(started, started.model_copy())
    # No cheap field changed: a running run's history is due only at the slow cadence.
    assert not history_due(started, started, seconds_since_fetch=5, slow_interval=30)
    assert history_due(started, started, seconds_since_fetch=30, slow_interval=30)
    assert not history_due(queued, queued, seconds_since_fetch=300)
    ended = started.model_copy(
        update={"ended_at": T0 + timedelta(minutes=1), "usage_metadata": {"total_agentic_steps": 3}}
    )
    assert history_due(started, ended, seconds_since_fetch=0)


def test_plaintext_the_caller_sent_is_masked_too() -> None:
    history = _step(f"I typed {PLAINTEXT} and PIN 123456", {"action": "left_click"})
    run = _run(history)
    assert any(PLAINTEXT in line for line in run_step_lines(run))  # unknown to the run itself
    lines = run_step_lines(run, secrets={"password": PLAINTEXT, "pin": {"n": [123456]}})
    assert lines[0] == "says: I typed [secret] and PIN [secret]"
