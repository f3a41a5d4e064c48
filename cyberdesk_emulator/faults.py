"""Fault injection rules and the seeded decision procedure.

A rule matches requests by ``route`` (an ``fnmatch`` pattern over ``"METHOD /route/template"``,
e.g. ``"POST /v1/runs"``, ``"GET /v1/runs/*"`` or ``"*"``) and fires with probability ``rate``,
at most ``times`` times when set. Kinds: ``429`` (with ``Retry-After``), ``408``, ``500``,
``502``, ``503``, ``504``, ``409`` (``Idempotency-Status: in_progress``), ``drop`` (the
connection is closed without a response) and ``latency`` (adds ``latency`` seconds).
``phase="before"`` answers without processing the request; ``phase="after"`` processes it first
(so a create really happens and its response is stored for idempotent replay) and then replaces
or drops the response, exercising the "lost response" path of client retries.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal["429", "408", "500", "502", "503", "504", "409", "drop", "latency"]


class FaultRule(BaseModel):
    """One fault rule."""

    model_config = ConfigDict(extra="forbid")
    route: str = "*"
    kind: FaultKind
    rate: float = Field(default=1.0, ge=0, le=1)
    times: int | None = Field(default=None, ge=0)
    retry_after: float = Field(default=1.0, ge=0)
    latency: float = Field(default=0.0, ge=0, le=60)
    phase: Literal["before", "after"] = "before"


class FaultConfig(BaseModel):
    """All rules plus the RNG seed that makes firing deterministic."""

    model_config = ConfigDict(extra="forbid")
    seed: int | None = 0
    rules: list[FaultRule] = Field(default_factory=list)


@dataclass
class FaultDecision:
    """What to do with one request."""

    latency: float = 0.0
    before: FaultRule | None = None
    after: FaultRule | None = None


class FaultInjector:
    """Holds the active configuration and draws decisions from a seeded RNG."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the rules (and reseed)."""
        self.config = config
        self._rng = random.Random(config.seed)
        self._fired: list[int] = [0] * len(config.rules)

    def clear(self) -> None:
        """Remove every rule."""
        self.configure(FaultConfig(seed=self.config.seed))

    def decide(self, route_key: str) -> FaultDecision:
        """Draw the faults for a request identified by ``"METHOD /template"``."""
        decision = FaultDecision()
        for index, rule in enumerate(self.config.rules):
            if not fnmatch.fnmatchcase(route_key, rule.route):
                continue
            if rule.times is not None and self._fired[index] >= rule.times:
                continue
            if rule.kind != "latency" and (decision.before or decision.after):
                continue
            if self._rng.random() >= rule.rate:
                continue
            self._fired[index] += 1
            if rule.kind == "latency":
                decision.latency += rule.latency
            elif rule.phase == "after":
                decision.after = rule
            else:
                decision.before = rule
        return decision
