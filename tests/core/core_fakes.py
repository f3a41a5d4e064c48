"""Test doubles for the core unit tests: a recording fake API, a fake clock, endpoint cases.

A uniquely named module (not `conftest`) so imports stay unambiguous when several test folders
with their own conftest.py are collected in one session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

API_KEY = "cd_test_secret_key_123"
BASE_URL = "https://cyberdesk.test"
T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)


def run_json(run_id: str = "run-1", status: str = "running", **extra: Any) -> dict[str, Any]:
    """A run object as the API returns it."""
    return {
        "id": run_id,
        "workflow_id": extra.pop("workflow_id", "wf-1"),
        "machine_id": None,
        "status": status,
        "created_at": extra.pop("created_at", T0.isoformat()),
        **extra,
    }


def page_json(items: list[Any], total: int | None = None, skip: int = 0, limit: int = 100) -> Any:
    """A page envelope."""
    return {
        "items": items,
        "total": len(items) if total is None else total,
        "skip": skip,
        "limit": limit,
    }


@dataclass
class Recorded:
    """One request as seen by the fake server."""

    method: str
    path: str
    params: list[tuple[str, str]]
    headers: httpx.Headers
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeAPI:
    """Records requests; answers with queued responses per (method, path) or a default handler."""

    handler: Handler | None = None
    queues: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def queue(self, method: str, path: str, *responses: Any) -> None:
        """Queue responses (httpx.Response, Exception to raise, or JSON + 200)."""
        self.queues.setdefault((method, path), []).extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.url.path,
                list(request.url.params.multi_items()),
                request.headers,
                body,
            )
        )
        queue = self.queues.get((request.method, request.url.path))
        if queue:
            item = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(item, Exception):
                raise item
            if isinstance(item, httpx.Response):
                return item
            if callable(item):
                result: httpx.Response = item(request)
                return result
            return httpx.Response(200, json=item)
        if self.handler is not None:
            return self.handler(request)
        return httpx.Response(404, json={"detail": f"no fake for {request.method} {request.url}"})

    def count(self, method: str, path: str | None = None) -> int:
        """Requests with this method (and path)."""
        return sum(1 for r in self.requests if r.method == method and path in (None, r.path))

    @property
    def last(self) -> Recorded:
        return self.requests[-1]


class FakeClock:
    """A controllable UTC clock plus sync/async sleeps that advance it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        # Let other tasks run, as a real sleep would.
        await asyncio.sleep(0)


NOBODY = object()


@dataclass
class Case:
    name: str
    invoke: Callable[[Any], Any]
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = NOBODY
    status: int = 200
    response: Any = None
    check: Callable[[Any], bool] = lambda result: True
    write: bool = False


def respond(case: Case) -> httpx.Response:
    if case.status == 204:
        return httpx.Response(204)
    return httpx.Response(case.status, json=case.response)


def verify(case: Case, api: FakeAPI, result: Any) -> None:
    assert len(api.requests) == 1
    sent = api.last
    assert (sent.method, sent.path) == (case.method, case.path)
    assert sent.params == case.params
    if case.body is NOBODY:
        assert sent.body == b""
    else:
        assert sent.json == case.body
        assert sent.headers["content-type"] == "application/json"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    if case.write:
        assert sent.headers.get("idempotency-key")
    else:
        assert "idempotency-key" not in sent.headers
    assert case.check(result)
