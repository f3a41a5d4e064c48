"""Usage of runs: per-run agentic and cached steps, LLM costs, and the organization aggregate.

`RunUsage` is read from a run's free-form `usage_metadata` (keys `total_agentic_steps` and
`total_cached_steps`, as the usage aggregate names them) and adds up with `+` or `sum_usage`,
so a bulk or a chain reports what all its runs cost in agent steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RunLlmCosts", "RunUsage", "UsageAggregate", "UsageMode", "sum_usage"]


class UsageMode(str, Enum):
    """How `usage.aggregate` counts steps: all of them (`simulated`) or only billed ones."""

    SIMULATED = "simulated"
    BILLED = "billed"


class UsageAggregate(BaseModel):
    """Answer of `usage.aggregate`: the organization's steps over a period."""

    model_config = ConfigDict(extra="allow")

    total_agentic_steps: int
    total_cached_steps: int
    period_start: datetime
    period_end: datetime
    mode: UsageMode | str = Field(union_mode="left_to_right")  # a mode not known yet stays text
    runs_counted: int


class RunLlmCosts(BaseModel):
    """Answer of `runs.llm_costs`: per-model rows and the total in USD (None when unpriced)."""

    model_config = ConfigDict(extra="allow")

    run_id: str | None = None
    rows: list[dict[str, Any]] = Field(default_factory=list)
    has_unpriced: bool = False
    total_cost_usd: float | None = None


def _count(metadata: Mapping[str, Any], *keys: str) -> int:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return 0


class RunUsage(BaseModel):
    """Agent steps one run (or, summed, many runs) used; `runs` counts the runs added up."""

    model_config = ConfigDict(frozen=True)

    agentic_steps: int = 0
    cached_steps: int = 0
    runs: int = 0

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None) -> RunUsage:
        """Usage of one run from its `usage_metadata` (zero steps when absent or unknown)."""
        data = metadata if isinstance(metadata, Mapping) else {}
        return cls(
            agentic_steps=_count(data, "total_agentic_steps", "agentic_steps"),
            cached_steps=_count(data, "total_cached_steps", "cached_steps"),
            runs=1,
        )

    def __add__(self, other: RunUsage) -> RunUsage:
        return RunUsage(
            agentic_steps=self.agentic_steps + other.agentic_steps,
            cached_steps=self.cached_steps + other.cached_steps,
            runs=self.runs + other.runs,
        )

    def describe(self) -> str:
        """One line, e.g. `12 agent steps (3 cached) over 2 runs`."""
        runs = "1 run" if self.runs == 1 else f"{self.runs} runs"
        return f"{self.agentic_steps} agent steps ({self.cached_steps} cached) over {runs}"


def sum_usage(usages: Iterable[RunUsage]) -> RunUsage:
    """The usage of many runs added up (e.g. a bulk or a chain)."""
    total = RunUsage()
    for usage in usages:
        total = total + usage
    return total
