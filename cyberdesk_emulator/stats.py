"""Request and creation counters exposed by ``GET /_emulator/stats``."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

LATENCY_WINDOW = 2000


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class Stats:
    """Counts by route template, creates by Idempotency-Key, latency percentiles."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.requests_by_route: Counter[str] = Counter()
        self.status_by_route: dict[str, Counter[int]] = {}
        self.latencies: dict[str, deque[float]] = {}
        self.creates_by_idempotency_key: Counter[str] = Counter()
        self.runs_by_idempotency_key: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.idempotent_replays = 0
        self.runs_created = 0

    def record_request(self, route: str, status: int, latency_ms: float) -> None:
        """Count one answered (or dropped, status 0) request."""
        self.requests_by_route[route] += 1
        self.status_by_route.setdefault(route, Counter())[status] += 1
        self.latencies.setdefault(route, deque(maxlen=LATENCY_WINDOW)).append(latency_ms)

    def record_runs(self, count: int, idempotency_key: str | None) -> None:
        """Count runs created by one request."""
        self.runs_created += count
        if idempotency_key:
            self.runs_by_idempotency_key[idempotency_key] += count

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of all counters."""
        latency = {
            route: {
                "count": len(values),
                "p50_ms": round(_percentile(list(values), 50), 3),
                "p99_ms": round(_percentile(list(values), 99), 3),
            }
            for route, values in self.latencies.items()
            if values
        }
        return {
            "requests_by_route": dict(self.requests_by_route),
            "status_by_route": {
                route: {str(code): n for code, n in codes.items()}
                for route, codes in self.status_by_route.items()
            },
            "creates_by_idempotency_key": dict(self.creates_by_idempotency_key),
            "runs_by_idempotency_key": dict(self.runs_by_idempotency_key),
            "runs_created": self.runs_created,
            "idempotent_replays": self.idempotent_replays,
            "faults_injected": dict(self.faults_injected),
            "latency_ms": latency,
        }
