"""A scripted, in-memory Cyberdesk API for property tests of the waiting logic.

Each run follows a *timeline*: ``[(status, seconds), ...]`` on a fake clock; the first terminal
status is absorbing. Every request first advances the clock by its latency, then either gets
the next scripted fault (a finite script: the API recovers afterwards) or the run's status at
that instant. The API records every read of a
run after it was already served as terminal: the waiting code must never do that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
KNOWN_TERMINAL = frozenset({"success", "task_failed", "error", "cancelled"})
WORKFLOW = "wf-property"


class FakeClock:
    """Manually advanced UTC clock."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=max(0.0, seconds))

    def elapsed(self) -> float:
        return (self.now - T0).total_seconds()


@dataclass
class Timeline:
    """Statuses of one run over time; the first terminal one never changes again."""

    segments: list[tuple[str, float]]

    def status_at(self, elapsed: float) -> str:
        t = 0.0
        for status, duration in self.segments:
            if status in KNOWN_TERMINAL:
                return status
            t += duration
            if elapsed < t:
                return status
        return self.segments[-1][0]

    @property
    def terminal(self) -> str | None:
        return next((s for s, _ in self.segments if s in KNOWN_TERMINAL), None)

    def terminal_at(self) -> float | None:
        t = 0.0
        for status, duration in self.segments:
            if status in KNOWN_TERMINAL:
                return t
            t += duration
        return None


@dataclass
class ScriptedAPI:
    """``httpx.MockTransport`` handler serving timelines with scripted faults and latencies."""

    clock: FakeClock
    timelines: dict[str, Timeline]
    faults: list[str | None]
    latencies: list[float]
    served_terminal: set[str] = field(default_factory=set)
    reads_after_terminal: list[str] = field(default_factory=list)
    served_statuses: dict[str, list[str]] = field(default_factory=dict)
    requests: int = 0

    def _next(self, items: list[Any], default: Any) -> Any:
        return items[self.requests % len(items)] if items else default

    def run_json(self, run_id: str) -> dict[str, Any]:
        status = self.timelines[run_id].status_at(self.clock.elapsed())
        return {
            "id": run_id,
            "workflow_id": WORKFLOW,
            "status": status,
            "created_at": T0.isoformat(),
            "output_data": {"final": status} if status in KNOWN_TERMINAL else None,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.clock.advance(self._next(self.latencies, 0.0))
        # Faults are a finite script (the API recovers afterwards); latencies repeat.
        fault = self.faults[self.requests] if self.requests < len(self.faults) else None
        self.requests += 1
        if fault == "connect":
            raise httpx.ConnectError("scripted connection failure", request=request)
        if fault == "read-timeout":
            raise httpx.ReadTimeout("scripted timeout", request=request)
        if fault == "429":
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "slow"})
        if fault == "409":
            return httpx.Response(
                409, headers={"Idempotency-Status": "in_progress"}, json={"detail": "busy"}
            )
        if fault is not None:
            return httpx.Response(int(fault), json={"detail": "scripted fault"})
        path = request.url.path
        if path == "/v1/runs":
            items = [self._serve(run_id) for run_id in self.timelines]
            body = {"items": items, "total": len(items), "skip": 0, "limit": 1000}
            return httpx.Response(200, content=json.dumps(body))
        run_id = path.rsplit("/", 1)[-1]
        if run_id in self.served_terminal:
            self.reads_after_terminal.append(run_id)
        return httpx.Response(200, content=json.dumps(self._serve(run_id, by_id=True)))

    def _serve(self, run_id: str, *, by_id: bool = False) -> dict[str, Any]:
        body = self.run_json(run_id)
        if by_id:
            self.served_statuses.setdefault(run_id, []).append(body["status"])
            if body["status"] in KNOWN_TERMINAL:
                self.served_terminal.add(run_id)
        return body
