"""A fake Cyberdesk API that answers every endpoint plausibly, for the typed-call tests
(`test_core_typed_calls.py`, `test_core_typed_calls_async.py`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
from core_fakes import page_json, run_json

WHEN = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEADLINE = datetime(2026, 12, 1, tzinfo=timezone.utc)
KEYS = {"k-create", "k-retry", "k-bulk", "k-chain", "k-att"}
CONTENT = b"hello"
# One object every model parses (responses keep unknown fields): a finished run, an
# attachment, a machine, a pool and a workflow at once.
ANY_OBJECT = {
    **run_json(status="success"),
    "run_id": "run-1",
    "name": "n",
    "filename": "f.txt",
    "content_type": "text/plain",
    "attachment_type": "output",
    "size_bytes": len(CONTENT),
}
COLLECTIONS = {"/v1/runs", "/v1/run-attachments", "/v1/machines", "/v1/pools", "/v1/workflows"}


def answer(request: httpx.Request) -> httpx.Response:
    """A plausible success response for any endpoint of the API."""
    path = request.url.path
    if request.method == "DELETE":
        return httpx.Response(204)
    if path.endswith("/download"):
        return httpx.Response(200, content=CONTENT)
    body: Any = ANY_OBJECT
    if path.endswith("/download-url"):
        body = {"url": "https://files.example/f", "expires_in": 60}
    elif path == "/v1/runs/bulk":
        body = {"created_runs": [ANY_OBJECT]}
    elif path == "/v1/runs/chain":
        body = {"session_id": "s-1", "run_ids": ["run-1"]}
    elif request.method == "GET" and path.endswith("/pools") and path != "/v1/pools":
        body = [ANY_OBJECT]
    elif request.method == "GET" and path in COLLECTIONS:
        body = page_json([ANY_OBJECT])
    return httpx.Response(200, json=body)
