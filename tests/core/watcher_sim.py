"""A simulated Cyberdesk run store over MockTransport, for the RunWatcher tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from core_fakes import T0, FakeClock

from cyberdesk_core import (
    AsyncCyberdeskClient,
    RunWatcher,
)

POLL = 5.0


@dataclass
class SimRun:
    id: str
    workflow_id: str
    created_at: datetime
    finish_at: datetime
    outcome: str = "success"
    session_id: str | None = None
    hidden_from_list: bool = False
    checks_for: float = 0.0

    def status(self, now: datetime) -> str:
        if now < self.finish_at - timedelta(seconds=self.checks_for):
            return "running"
        if now < self.finish_at:
            return "running_checks"
        return self.outcome

    def full(self, now: datetime) -> dict[str, Any]:
        status = self.status(now)
        done = status not in ("running", "running_checks")
        return {
            "id": self.id,
            "workflow_id": self.workflow_id,
            "machine_id": "m-1",
            "status": status,
            "created_at": self.created_at.isoformat(),
            "session_id": self.session_id,
            "ended_at": self.finish_at.isoformat() if done else None,
            "output_data": {"who": self.id} if done else None,
            "run_message_history": [{"role": "assistant", "content": []}],
        }


class SimServer:
    """A tiny in-memory runs API whose statuses follow the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.runs: dict[str, SimRun] = {}
        self.gets: list[str] = []
        self.lists: list[dict[str, Any]] = []
        self.get_status: dict[str, int] = {}
        self.list_status: int | None = None

    def add(
        self,
        run_id: str,
        workflow_id: str = "wf-1",
        *,
        finish_after: float = 12.0,
        created_offset: float = 0.0,
        **kw: Any,
    ) -> SimRun:
        run = SimRun(
            run_id,
            workflow_id,
            created_at=T0 + timedelta(seconds=created_offset),
            finish_at=T0 + timedelta(seconds=finish_after),
            **kw,
        )
        self.runs[run_id] = run
        return run

    def __call__(self, request: httpx.Request) -> httpx.Response:
        now = self.clock()
        parts = request.url.path.strip("/").split("/")
        if request.method == "GET" and parts == ["v1", "runs"]:
            return self._list(request, now)
        if request.method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "runs"]:
            run_id = parts[2]
            self.gets.append(run_id)
            if run_id in self.get_status:
                return httpx.Response(self.get_status[run_id], json={"detail": "nope"})
            if run_id not in self.runs:
                return httpx.Response(404, json={"detail": "Run not found"})
            return httpx.Response(200, json=self.runs[run_id].full(now))
        return httpx.Response(405)

    def _list(self, request: httpx.Request, now: datetime) -> httpx.Response:
        q = request.url.params
        self.lists.append({k: q.get_list(k) if k == "fields" else q.get(k) for k in q})
        if self.list_status is not None:
            return httpx.Response(
                self.list_status, json={"detail": [{"loc": ["query"], "msg": "bad", "type": "x"}]}
            )
        since = datetime.fromisoformat(q["created_at_from"])
        items = [
            r
            for r in self.runs.values()
            if not r.hidden_from_list
            and r.created_at >= since
            and (q.get("workflow_id") is None or r.workflow_id == q["workflow_id"])
            and (q.get("session_id") is None or r.session_id == q["session_id"])
        ]
        items.sort(key=lambda r: r.created_at, reverse=True)
        skip, limit = int(q["skip"]), int(q["limit"])
        fields = set(q.get_list("fields"))
        base = {"id", "workflow_id", "machine_id", "status", "created_at"}
        page = [
            {k: v for k, v in r.full(now).items() if k in base | fields}
            for r in items[skip : skip + limit]
        ]
        return httpx.Response(
            200, json={"items": page, "total": len(items), "skip": skip, "limit": limit}
        )


def make_watcher(client: AsyncCyberdeskClient, clock: FakeClock, **kw: Any) -> RunWatcher:
    return RunWatcher(client, poll_interval=POLL, clock=clock, sleep=clock.asleep, **kw)


def ticks(clock: FakeClock) -> int:
    return len(clock.sleeps) + 1
