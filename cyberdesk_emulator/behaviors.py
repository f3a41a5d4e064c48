"""Declarative workflow behaviours and the tiny ``{{ ... }}`` template language they use.

A behaviour says how a simulated machine "executes" a workflow: how long it takes, how it ends,
what ``output_data`` it produces and which files it exports. Templates see the run's effective
inputs as ``inputs``; sensitive values are reachable as ``secrets`` but only through filters that
do not reveal them (``mask``, ``sha256``, ``length``, ``present``), so plaintext can never leak
into outputs.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Outcome = Literal["success", "error", "task_failed"]
OUTCOMES: tuple[str, ...] = ("success", "error", "task_failed")
DEFAULT_DURATION = 2.0
MASK = "********"

_EXPR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_\-]+)*$")
BEHAVIOR_BLOCK = re.compile(r"```emulator-behavior\s*\n?(.*?)```", re.DOTALL)


class FileSpec(BaseModel):
    """A file the simulated agent exports; name and content are templates."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    content: str = ""
    content_type: str | None = None


class StepSpec(BaseModel):
    """One agent step in the run's message history; ``text`` and ``tool_input`` are templates."""

    model_config = ConfigDict(extra="forbid")
    text: str = ""
    tool: str | None = None
    tool_input: dict[str, Any] = Field(default_factory=dict)
    screenshot: bool = True
    cached: bool = False


class Behavior(BaseModel):
    """How a workflow's runs behave on a simulated machine (durations in simulated seconds)."""

    model_config = ConfigDict(extra="forbid")
    duration: float | list[float] = DEFAULT_DURATION
    outcome: Outcome | dict[Outcome, float] = "success"
    output: Any = None
    files: list[FileSpec] = Field(default_factory=list)
    checks_duration: float = Field(default=0.0, ge=0)
    checks_outcome: Outcome = "success"
    error_message: str = "Simulated failure"
    steps: list[StepSpec] | None = None

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, value: float | list[float]) -> float | list[float]:
        if isinstance(value, list):
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise ValueError("duration range must be [min, max] with 0 <= min <= max")
        elif value < 0:
            raise ValueError("duration must be >= 0")
        return value

    @model_validator(mode="after")
    def _check_outcome(self) -> Behavior:
        if isinstance(self.outcome, dict):
            weights = list(self.outcome.values())
            if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError("outcome probabilities must be >= 0 and sum to more than 0")
        return self

    def pick_duration(self, rng: random.Random) -> float:
        """Simulated seconds this execution takes."""
        if isinstance(self.duration, list):
            return rng.uniform(self.duration[0], self.duration[1])
        return float(self.duration)

    def pick_outcome(self, rng: random.Random) -> str:
        """Outcome of this execution (weighted draw when probabilities are given)."""
        if isinstance(self.outcome, str):
            return self.outcome
        names = list(self.outcome)
        return rng.choices(names, weights=[self.outcome[n] for n in names])[0]


def behavior_from_prompt(main_prompt: str | None) -> Behavior | None:
    """Parse a fenced ```emulator-behavior {json}``` block out of a workflow prompt, if any.

    Raises ``ValueError`` when the block is present but invalid.
    """
    if not main_prompt:
        return None
    match = BEHAVIOR_BLOCK.search(main_prompt)
    if match is None:
        return None
    try:
        raw = json.loads(match.group(1))
    except json.JSONDecodeError as exc:
        raise ValueError(f"emulator-behavior block is not valid JSON: {exc.msg}") from exc
    return Behavior.model_validate(raw)


class _Secret:
    """Wraps a sensitive value so templates can only derive non-revealing facts from it."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __repr__(self) -> str:
        return MASK

    def digest(self) -> str:
        raw = self._value if isinstance(self._value, str) else json.dumps(self._value)
        return hashlib.sha256(raw.encode()).hexdigest()

    def length(self) -> int:
        return len(self._value) if isinstance(self._value, (str, list, dict)) else 0


def _lookup(context: dict[str, Any], path: str) -> Any:
    current: Any = context
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _apply_filter(value: Any, name: str) -> Any:
    secret = isinstance(value, _Secret)
    if name == "present":
        return value is not None
    if name == "sha256":
        if secret:
            return value.digest()
        raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()
    if name == "mask":
        return MASK if value is not None else None
    if name == "length":
        if secret:
            return value.length()
        return len(value) if isinstance(value, (str, list, dict)) else 0
    if secret:
        # Any other filter would expose the plaintext: keep it masked.
        return MASK
    if name == "upper":
        return str(value).upper() if value is not None else None
    if name == "lower":
        return str(value).lower() if value is not None else None
    if name == "json":
        return json.dumps(value, sort_keys=True)
    raise ValueError(f"unknown template filter {name!r}")


def _evaluate(expr: str, context: dict[str, Any]) -> Any:
    path, *filters = (part.strip() for part in expr.split("|"))
    if not _PATH.match(path):
        raise ValueError(f"invalid template expression {{{{ {expr} }}}}")
    value = _lookup(context, path)
    if path.split(".", 1)[0] == "secrets" and isinstance(value, dict):
        # The whole secrets namespace (or a nested part of it) is never serialised.
        value = MASK
    for name in filters:
        value = _apply_filter(value, name)
    if isinstance(value, _Secret):
        return MASK
    return value


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def render(template: Any, context: dict[str, Any]) -> Any:
    """Render a JSON-like template.

    A string that is exactly one ``{{ expr }}`` keeps the value's JSON type; other strings get
    text substitution; dicts and lists are rendered recursively.
    """
    if isinstance(template, str):
        whole = _EXPR.fullmatch(template.strip())
        if whole is not None:
            return _evaluate(whole.group(1), context)
        return _EXPR.sub(lambda m: _to_text(_evaluate(m.group(1), context)), template)
    if isinstance(template, dict):
        return {str(k): render(v, context) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, context) for v in template]
    return template


def template_context(
    inputs: dict[str, Any],
    secrets: dict[str, Any],
    run: dict[str, Any],
    machine: dict[str, Any],
    workflow: dict[str, Any],
) -> dict[str, Any]:
    """Names visible to templates; secrets are wrapped so they cannot be echoed."""
    wrapped: dict[str, Any] = {key: _Secret(value) for key, value in secrets.items()}
    return {
        "inputs": inputs,
        "secrets": wrapped,
        "run": run,
        "machine": machine,
        "workflow": workflow,
    }


def default_output(inputs: dict[str, Any]) -> dict[str, Any]:
    """Output of a workflow without a configured ``output`` template."""
    return {"status": "completed", "inputs_received": sorted(inputs)}
