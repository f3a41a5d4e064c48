"""``run_complete`` webhooks: Svix v1 signatures verified with the ``svix`` library."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from cyberdesk_emulator import EmulatorServer

from .conftest import Api, wait_until

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """A loopback HTTP endpoint recording every delivery (raw body + headers)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        received = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append((self.rfile.read(length), dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    yield recv
    recv.close()


def _org_with_webhook(server: EmulatorServer, url: str) -> Api:
    summary = server.admin.seed({"webhooks": [{"url": url, "secret": SECRET}]})
    assert summary["org_emulator"]["webhooks"] == [{"url": url, "secret": SECRET}]
    client = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10.0
    )
    return Api(server=server, key=server.api_key, client=client)


def test_run_complete_is_signed_and_verifiable(
    cyberdesk_emulator_factory: Callable[..., EmulatorServer], receiver: Receiver
) -> None:
    server = cyberdesk_emulator_factory()
    api = _org_with_webhook(server, receiver.url)
    hooked = api.workflow(is_webhooks_enabled=True, behavior={"duration": 1, "checks_duration": 1})
    silent = api.workflow(behavior={"duration": 0})
    api.machine()
    run = api.run(workflow_id=hooked["id"], sensitive_input_values={"password": "never-sent"})
    api.wait(api.run(workflow_id=silent["id"])["id"])
    api.wait(run["id"])
    wait_until(lambda: receiver.deliveries)
    assert len(receiver.deliveries) == 1
    body, headers = receiver.deliveries[0]
    lowered = {k.lower(): v for k, v in headers.items()}
    Webhook(SECRET).verify(body, lowered)  # raises unless the Svix v1 signature is valid
    payload = json.loads(body)
    assert payload["event_type"] == "run_complete"
    assert payload["run"]["id"] == run["id"]
    assert payload["run"]["status"] == "success"
    assert set(payload) == {"event_id", "event_type", "occurred_at", "run"}
    assert b"never-sent" not in body
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", lowered)
    deliveries = server.admin.webhook_deliveries()
    assert deliveries[0]["delivered"] is True
    assert deliveries[0]["event_id"] == payload["event_id"]


def test_cancel_and_failure_fire_webhooks(
    cyberdesk_emulator_factory: Callable[..., EmulatorServer], receiver: Receiver
) -> None:
    server = cyberdesk_emulator_factory()
    api = _org_with_webhook(server, receiver.url)
    long = api.workflow(is_webhooks_enabled=True, behavior={"duration": 100_000})
    failing = api.workflow(is_webhooks_enabled=True, behavior={"duration": 0, "outcome": "error"})
    api.machine()
    run = api.run(workflow_id=long["id"])
    api.wait(run["id"], {"running"})
    api.client.patch(f"/v1/runs/{run['id']}", json={"status": "cancelled"})
    failed = api.wait(api.run(workflow_id=failing["id"])["id"])
    wait_until(lambda: len(receiver.deliveries) == 2)
    statuses = {}
    for body, headers in receiver.deliveries:
        Webhook(SECRET).verify(body, {k.lower(): v for k, v in headers.items()})
        event = json.loads(body)
        statuses[event["run"]["id"]] = event["run"]["status"]
    assert statuses == {run["id"]: "cancelled", failed["id"]: "error"}
    assert all(json.loads(b)["run"]["ended_at"] for b, _ in receiver.deliveries)
