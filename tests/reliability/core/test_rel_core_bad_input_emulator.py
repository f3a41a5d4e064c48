"""Bad input catalogue (emulator side): what an attacker or a careless client sends over HTTP.

The client catalogue (``test_rel_core_bad_input.py``) stops mistakes before they are sent; this
one sends them anyway, as raw HTTP, and checks the emulator's answer: the status code, words of
the error that name the field, that no submitted secret or large value comes back, and that
nothing was created (no run, attachment, workflow, machine, pool, organization or webhook).

Two extra organizations play victim (``A``: an attachment and a session) and attacker (``B``:
a finished run and a machine); requests are B's unless a case says otherwise.
"""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from reliability_support import new_canary

from cyberdesk_emulator import EmulatorServer

CANARY = new_canary("emulator-bad-input")
#: Invalid base64 that carries the canary (and is big): the 422 must echo neither.
BAD_BASE64 = "!!" + CANARY * 500


@dataclass(frozen=True)
class Case:
    """One bad request: how to send it, the status expected, words its error must contain."""

    send: Callable[[dict[str, Any]], httpx.Response | tuple[int, str]]
    status: int
    words: tuple[str, ...]


def _raw(env: dict[str, Any], method: str, path: str, body: str) -> httpx.Response:
    """A JSON body exactly as written (``\\ud800`` escapes, ``NaN``), with B's key."""
    client: httpx.Client = env["b"]
    return client.request(
        method, path, content=body.encode(), headers={"Content-Type": "application/json"}
    )


def _json(env: dict[str, Any], method: str, path: str, body: Any) -> httpx.Response:
    client: httpx.Client = env["b"]
    return client.request(method, path, json=body)


def _attachment(env: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {
        "run_id": env["b_run"],
        "filename": "a.txt",
        "content": base64.b64encode(b"x").decode(),
        "content_type": "text/plain",
        "attachment_type": "output",
        **fields,
    }
    return _json(env, "POST", "/v1/run-attachments", body)


def _seed_webhook(env: dict[str, Any], hook: dict[str, Any]) -> httpx.Response:
    server: EmulatorServer = env["server"]
    document = {
        "organizations": [{"id": "org_cat_new", "api_keys": ["cd_cat_new"], "webhooks": [hook]}]
    }
    headers = {"X-Emulator-Admin-Token": server.admin_token}
    return httpx.post(f"{server.url}/_emulator/seed", json=document, headers=headers)


def _declared_huge(env: dict[str, Any]) -> tuple[int, str]:
    """300 MB announced, nothing sent: answered before any byte is read."""
    server: EmulatorServer = env["server"]
    head = (
        f"POST /v1/runs HTTP/1.1\r\nHost: emulator\r\nAuthorization: Bearer {env['b_key']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()


def _run_with(fragment: str) -> Callable[[dict[str, Any]], httpx.Response]:
    return lambda e: _raw(
        e, "POST", "/v1/runs", f'{{"workflow_id": "{e["b_workflow"]}", {fragment}}}'
    )


CASES: dict[str, Case] = {
    "lone-surrogate-input-value": Case(
        _run_with('"input_values": {"a": "\\ud800"}'), 422, ("input_values.a", "surrogate")
    ),
    "lone-surrogate-input-key": Case(
        _run_with('"input_values": {"\\udc80": 1}'), 422, ("input_values", "key", "surrogate")
    ),
    "lone-surrogate-workflow-name": Case(
        lambda e: _raw(e, "POST", "/v1/workflows", '{"main_prompt": "p", "name": "\\udc80"}'),
        422,
        ("name", "UTF-8"),
    ),
    "lone-surrogate-machine-name": Case(
        lambda e: _raw(
            e,
            "POST",
            "/v1/machines",
            '{"fingerprint": "f", "unkey_key_id": "k", "name": "\\udc80"}',
        ),
        422,
        ("name", "surrogate"),
    ),
    "nan-input": Case(
        _run_with('"input_values": {"total": NaN}'), 422, ("input_values.total", "finite")
    ),
    "infinity-input": Case(
        _run_with('"input_values": {"t": [Infinity]}'), 422, ("input_values.t.0", "finite")
    ),
    "overflowing-number": Case(
        _run_with('"input_values": {"t": 1e999}'), 422, ("input_values.t", "finite")
    ),
    "invalid-base64-file-input": Case(
        _run_with(f'"file_inputs": [{{"filename": "a.csv", "content": "{BAD_BASE64}"}}]'),
        422,
        ("file_inputs.0.content", "base64"),
    ),
    "invalid-base64-attachment": Case(
        lambda e: _attachment(e, content=BAD_BASE64), 422, ("content", "base64")
    ),
    "content-type-crlf": Case(
        lambda e: _attachment(e, content_type="text/plain\r\nSet-Cookie: a=b"),
        422,
        ("content_type", "media type"),
    ),
    "content-type-nul": Case(
        lambda e: _attachment(e, content_type="text/plain\x00"), 422, ("content_type", "ASCII")
    ),
    "content-type-not-a-media-type": Case(
        lambda e: _attachment(e, content_type="plain text"), 422, ("content_type", "type/subtype")
    ),
    "foreign-output-attachment-id": Case(
        lambda e: _json(
            e, "PATCH", f"/v1/runs/{e['b_run']}", {"output_attachment_ids": [e["a_attachment"]]}
        ),
        404,
        ("output_attachment_ids[0]", "not found"),
    ),
    "unknown-output-attachment-id": Case(
        lambda e: _json(
            e, "PATCH", f"/v1/runs/{e['b_run']}", {"output_attachment_ids": [str(uuid.uuid4())]}
        ),
        404,
        ("output_attachment_ids[0]", "Run attachment"),
    ),
    "foreign-attachment-download": Case(
        lambda e: _json(e, "GET", f"/v1/run-attachments/{e['a_attachment']}/download", None),
        404,
        ("Run attachment", "not found"),
    ),
    "foreign-session-reservation": Case(
        lambda e: _json(
            e, "PATCH", f"/v1/machines/{e['b_machine']}", {"reserved_session_id": e["a_session"]}
        ),
        404,
        ("Session", "reserved_session_id"),
    ),
    "webhook-secret-not-base64": Case(
        lambda e: _seed_webhook(e, {"url": "http://127.0.0.1:9/h", "secret": f"whsec_{CANARY}!"}),
        422,
        ("webhooks.0.secret", "base64"),
    ),
    "webhook-url-not-http": Case(
        lambda e: _seed_webhook(e, {"url": "file:///etc/passwd"}), 422, ("webhooks.0.url", "http")
    ),
    "declared-body-too-large": Case(_declared_huge, 413, ("too large", "67108864 bytes")),
    "bulk-multiplies-inputs-past-the-limit": Case(
        lambda e: _json(
            e,
            "POST",
            "/v1/runs/bulk",
            {"workflow_id": e["b_workflow"], "count": 1000, "input_values": {"x": "z" * 70_000}},
        ),
        413,
        ("bulk of 1000 runs", "max_body_bytes"),
    ),
}


def _counts(server: EmulatorServer) -> dict[str, int]:
    store = server.emulator.store
    return {
        "runs": len(store.runs),
        "attachments": len(store.attachments),
        "workflows": len(store.workflows),
        "machines": len(store.machines),
        "pools": len(store.pools),
        "organizations": len(store.orgs),
        "webhooks": sum(len(o.webhooks) for o in store.orgs.values()),
        "reserved": sum(m.reserved_session_id is not None for m in store.machines.values()),
    }


@pytest.fixture(scope="module")
def env(emulator: EmulatorServer) -> Iterator[dict[str, Any]]:
    """Organizations A (victim) and B (attacker) with the objects the cases point at."""
    tag = uuid.uuid4().hex[:8]
    a_key, b_key = f"cd_cat_a_{tag}", f"cd_cat_b_{tag}"
    emulator.admin.seed(
        {
            "organizations": [
                {
                    "id": f"org_cat_a_{tag}",
                    "api_keys": [a_key],
                    "workflows": [
                        {"id": str(uuid.uuid4()), "name": "a", "behavior": {"duration": 100_000}}
                    ],
                },
                {
                    "id": f"org_cat_b_{tag}",
                    "api_keys": [b_key],
                    "workflows": [{"name": "b", "behavior": {"duration": 0}}],
                    "machines": [{"name": "b-desk"}],
                },
            ]
        }
    )
    a = httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {a_key}"})
    b = httpx.Client(base_url=emulator.url, headers={"Authorization": f"Bearer {b_key}"})
    a_workflow = a.get("/v1/workflows").json()["items"][0]["id"]
    b_workflow = b.get("/v1/workflows").json()["items"][0]["id"]
    a_run = a.post("/v1/runs", json={"workflow_id": a_workflow, "start_session": True}).json()
    a_att = a.post(
        "/v1/run-attachments",
        json={
            "run_id": a_run["id"],
            "filename": "ledger.csv",
            "content": base64.b64encode(b"A").decode(),
            "content_type": "text/csv",
            "attachment_type": "output",
        },
    ).json()
    b_run = b.post("/v1/runs", json={"workflow_id": b_workflow}).json()
    yield {
        "server": emulator,
        "b": b,
        "b_key": b_key,
        "b_workflow": b_workflow,
        "b_run": b_run["id"],
        "b_machine": b.get("/v1/machines").json()["items"][0]["id"],
        "a_attachment": a_att["id"],
        "a_session": a_run["session_id"],
    }
    a.patch(f"/v1/runs/{a_run['id']}", json={"status": "cancelled"})
    a.close()
    b.close()


def _message(body: str) -> str:
    """The error's text: a plain ``detail``, or each validation error as ``loc: msg``."""
    try:
        detail = json.loads(body)["detail"]
    except (ValueError, KeyError, TypeError):
        return body
    if isinstance(detail, list):
        return " | ".join(
            ".".join(str(p) for p in err["loc"][1:]) + ": " + err["msg"] for err in detail
        )
    return str(detail)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_request_is_named_and_creates_nothing(
    name: str, env: dict[str, Any], emulator: EmulatorServer, admin: Any
) -> None:
    case = CASES[name]
    before = _counts(emulator)
    answer = case.send(env)
    status, body = (
        (answer.status_code, answer.text) if isinstance(answer, httpx.Response) else answer
    )
    assert status == case.status, body[:500]
    message = _message(body)
    for word in case.words:
        assert word in message, (word, message)
    assert CANARY not in body
    assert len(body) < 2000, "the error echoes what was sent"
    assert _counts(emulator) == before
    stats = admin.stats()
    assert stats["runs_created"] == 0
    assert stats["creates_by_idempotency_key"] == {}
    # Afterwards the organization's lists still answer.
    client: httpx.Client = env["b"]
    for path in ("/v1/runs", "/v1/workflows", "/v1/machines", "/v1/run-attachments"):
        assert client.get(path).status_code == 200, path


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 20
