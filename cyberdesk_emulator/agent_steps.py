"""The simulated agent's steps: ``run_message_history`` items appended while a run executes.

Each step is an assistant message (a ``text`` and a ``tool_use`` block) followed by the tool's
answer (a ``tool_result`` and, usually, an ``image`` block whose ``image_url`` is a
``supabase://run-images/<org>/<run>/<n>.png`` screenshot reference), shaped like the items the
official SDK types (``ChatMessage``/``MessageContentBlock``). Steps are spread evenly over the
run's simulated duration, so a client polling a running run sees the history grow. Texts and
tool inputs are behaviour templates: sensitive values only ever render masked.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from cyberdesk_emulator.behaviors import BEHAVIOR_BLOCK, Behavior, StepSpec, render
from cyberdesk_emulator.billing import count_steps
from cyberdesk_emulator.state import Run, new_id, utcnow
from cyberdesk_emulator.wire import iso

IMAGE_PREFIX = "supabase://run-images/"
DECLARE_FAILED_TOOL = "declare_task_failed"
_IMAGE_PATH = re.compile(r"^([A-Za-z0-9_\-]{1,128})/([0-9a-f\-]{36})/([0-9]{1,6})\.png$")


def image_url(run: Run, step: int) -> str:
    """Screenshot reference of a run's ``step`` (1-based)."""
    return f"{IMAGE_PREFIX}{run.org_id}/{run.id}/{step}.png"


def parse_image_url(url: str) -> tuple[str, str, int] | None:
    """``(org id, run id, step)`` of a well-formed screenshot reference, else None."""
    if not url.startswith(IMAGE_PREFIX):
        return None
    match = _IMAGE_PATH.match(url[len(IMAGE_PREFIX) :])
    if match is None:
        return None
    return match.group(1), match.group(2), int(match.group(3))


def referenced_images(run: Run) -> set[str]:
    """Every ``image_url`` of the run's history."""
    urls: set[str] = set()
    for item in run.run_message_history or []:
        for block in item.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "image" and block.get("image_url"):
                urls.add(str(block["image_url"]))
    return urls


def default_steps(prompt: str) -> list[StepSpec]:
    """Steps of a workflow without a ``steps`` list, derived from its prompt's first line."""
    task = BEHAVIOR_BLOCK.sub("", prompt).strip().splitlines()
    goal = (task[0] if task else "the task")[:120]
    return [
        StepSpec(text=f"Starting: {goal}", tool="computer", tool_input={"action": "screenshot"}),
        StepSpec(
            text="Opening the application window",
            tool="computer",
            tool_input={"action": "double_click", "coordinate": [512, 384]},
        ),
        StepSpec(
            text="Working through the task",
            tool="computer",
            tool_input={"action": "key", "text": "Return"},
        ),
    ]


def planned_steps(behavior: Behavior, prompt: str) -> list[StepSpec]:
    """The behaviour's ``steps`` or the default derived from the prompt."""
    return list(behavior.steps) if behavior.steps is not None else default_steps(prompt)


def _step_items(run: Run, number: int, spec: StepSpec, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    stamp = iso(utcnow())
    text = str(render(spec.text, ctx)) if spec.text else ""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    assistant: dict[str, Any] = {"role": "assistant", "content": blocks, "timestamp": stamp}
    if spec.cached:
        # A cached step is replayed from the workflow's trajectory instead of asking the model.
        assistant.update(trajectory_id=f"trajectory-{run.workflow_id}", step_index=number - 1)
    items = [assistant]
    if spec.tool:
        tool_id = f"toolu_{new_id().replace('-', '')[:24]}"
        tool_input = render(spec.tool_input, ctx)
        blocks.append(
            {
                "type": "tool_use",
                "tool_use_id": tool_id,
                "tool_name": spec.tool,
                "tool_input": tool_input if isinstance(tool_input, dict) else {},
            }
        )
        answer: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": tool_id, "tool_result": "ok"}
        ]
        if spec.screenshot:
            answer.append({"type": "image", "image_url": image_url(run, number)})
        items.append({"role": "user", "content": answer, "timestamp": stamp})
    return items


async def perform_steps(
    run: Run,
    steps: list[StepSpec],
    ctx: dict[str, Any],
    duration: float,
    wait: Callable[[float], Awaitable[bool]],
) -> None:
    """Append each step after its share of ``duration``; ``wait`` returns True once skipped.

    The last share is waited after the final step, before the outcome is recorded.
    """
    run.run_message_history = []
    share = duration / (len(steps) + 1)
    skipped = False
    for number, spec in enumerate(steps, start=1):
        if not skipped:
            skipped = await wait(share)
        run.run_message_history.extend(_step_items(run, number, spec, ctx))
        # The execution side reports progress with the run (PATCH /v1/runs/{id}); the step
        # counts are what a client can see change in a cheap list call.
        agentic, cached = count_steps(run)
        run.usage_metadata = {"total_agentic_steps": agentic, "total_cached_steps": cached}
    if not skipped:
        await wait(share)


def record_outcome(run: Run, outcome: str, reason: str | None) -> None:
    """The agent's closing message; ``task_failed`` declares the failure with its reason."""
    stamp = iso(utcnow())
    history = run.run_message_history if run.run_message_history is not None else []
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": f"Simulated execution finished: {outcome}"}
    ]
    if outcome == "task_failed":
        blocks.append(
            {
                "type": "tool_use",
                "tool_use_id": f"toolu_{new_id().replace('-', '')[:24]}",
                "tool_name": DECLARE_FAILED_TOOL,
                "tool_input": {"reason": reason or ""},
            }
        )
    elif outcome != "success" and reason:
        blocks[0]["text"] += f" ({reason})"
    history.append({"role": "assistant", "content": blocks, "timestamp": stamp})
    run.run_message_history = history
