"""ASGI middleware: request log + stats, fault injection and Idempotency-Key replay.

Order for a Cyberdesk route: decide faults -> (fault "before": answer now, nothing processed)
-> claim the idempotency key (replay a stored response, or 409 ``in_progress``) -> added latency
(inside the claim, so a concurrent duplicate sees ``in_progress``) -> the route -> store the
response for the key -> (fault "after": the work is done and stored, the client gets an error or a
dropped connection and its retry is answered from the store). Admin, signed-file, dashboard and
health routes skip faults and idempotency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .faults import FaultRule
from .idempotency import IN_PROGRESS, MISMATCH, StoredResponse
from .runtime import Emulator

logger = logging.getLogger("cyberdesk_emulator")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FAULT_TEXT = {
    "408": "Request timeout",
    "500": "Internal server error",
    "502": "Bad gateway",
    "503": "Service unavailable",
    "504": "Gateway timeout",
}


class DroppedConnection(Exception):
    """Raised to make the server close a connection without answering (fault ``drop``)."""


class DropFilter(logging.Filter):
    """Hides the server's traceback for deliberately dropped connections."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip()
    return None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    raw = json.dumps(body).encode()
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": raw})


async def _drop(send: Send) -> None:
    """Start a response the server must refuse: it then closes the socket, writing nothing."""
    # The server refuses the header before writing a byte; the exception closes the socket.
    with contextlib.suppress(Exception):
        await send(
            {"type": "http.response.start", "status": 500, "headers": [(b"x-drop", b"\r\n")]}
        )
    raise DroppedConnection("connection dropped by fault injection")


class EmulatorMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, emulator: Emulator, routes: list[BaseRoute]) -> None:
        self.app = app
        self.emu = emulator
        self.routes = routes

    def route_key(self, scope: Scope) -> str:
        """``"METHOD /route/template"`` (``<unmatched>`` for unknown paths)."""
        partial: str | None = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return f"{scope['method']} {getattr(route, 'path', scope['path'])}"
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        return f"{scope['method']} {partial or '<unmatched>'}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        key = self.route_key(scope)
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        admin = path.startswith("/_emulator")
        faultable = path.startswith("/v1/") and not path.startswith("/v1/health")
        try:
            if faultable:
                await self._handle(scope, receive, tracking_send, key)
            else:
                await self.app(scope, receive, tracking_send)
        except DroppedConnection:
            status = 0
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            if not admin:
                self.emu.stats.record_request(key, status, latency_ms)
            shown = str(status) if status else "dropped"
            logger.info("%s %s %.1fms", key, shown, latency_ms)

    async def _fault(self, rule: FaultRule, send: Send) -> None:
        self.emu.stats.faults_injected[rule.kind] += 1
        if rule.kind == "drop":
            await _drop(send)
        elif rule.kind == "429":
            retry_after = str(math.ceil(rule.retry_after)).encode()
            await _send_json(
                send,
                429,
                {"detail": "Rate limit exceeded (injected fault)"},
                [
                    (b"retry-after", retry_after),
                    (b"x-ratelimit-limit", b"60"),
                    (b"x-ratelimit-remaining", b"0"),
                    (b"x-ratelimit-reset", retry_after),
                ],
            )
        elif rule.kind == "409":
            await _send_json(
                send,
                409,
                {"detail": "A request with this Idempotency-Key is already being processed"},
                [(b"idempotency-status", b"in_progress")],
            )
        else:
            text = _FAULT_TEXT[rule.kind]
            await _send_json(send, int(rule.kind), {"detail": f"{text} (injected fault)"})

    async def _handle(self, scope: Scope, receive: Receive, send: Send, key: str) -> None:
        emu = self.emu
        decision = emu.faults.decide(key)
        if decision.before is not None:
            if decision.latency:
                await asyncio.sleep(decision.latency)
            await self._fault(decision.before, send)
            return
        claim: tuple[str, str, str] | None = None
        if scope["method"] in WRITE_METHODS:
            idem_key = _header(scope, b"idempotency-key")
            org = emu.store.org_for_key(_bearer(scope))
            if idem_key and org is not None:
                request = f"{scope['method']} {scope['path']}"
                existing = emu.idempotency.begin(org.id, idem_key, request)
                if existing == MISMATCH:
                    first = emu.idempotency.owner(org.id, idem_key)
                    await _send_json(
                        send,
                        409,
                        {"detail": f"Idempotency-Key was already used for {first}"},
                    )
                    return
                if existing == IN_PROGRESS:
                    await _send_json(
                        send,
                        409,
                        {"detail": "A request with this Idempotency-Key is still being processed"},
                        [(b"idempotency-status", b"in_progress")],
                    )
                    return
                if isinstance(existing, StoredResponse):
                    emu.stats.idempotent_replays += 1
                    if decision.after is not None:
                        await self._fault(decision.after, send)
                    else:
                        await self._replay(existing, send)
                    return
                claim = (org.id, idem_key, request)
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if claim is None and decision.after is None:
            await self.app(scope, receive, send)
            return
        stored = await self._capture(scope, receive, claim)
        if decision.after is not None:
            await self._fault(decision.after, send)
            return
        await self._replay(stored, send, replayed=False)

    async def _capture(
        self, scope: Scope, receive: Receive, claim: tuple[str, str, str] | None
    ) -> StoredResponse:
        """Run the route with a buffered response; store it under the claimed key."""
        stored = StoredResponse(status=500)
        chunks: list[bytes] = []

        async def buffer(message: Message) -> None:
            if message["type"] == "http.response.start":
                stored.status = int(message["status"])
                stored.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and claim is not None:
                # Only a response stored for a key needs its body: an "after" fault replaces
                # every other one, and buffering, say, a gigabyte download would be wasted.
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, buffer)
        except BaseException:
            if claim is not None:
                self.emu.idempotency.abandon(claim[0], claim[1])
            raise
        stored.body = b"".join(chunks)
        if claim is not None:
            if stored.status >= 500:
                self.emu.idempotency.abandon(claim[0], claim[1])
            else:
                self.emu.idempotency.complete(*claim, stored)
                if scope["method"] == "POST" and stored.status < 300:
                    self.emu.stats.creates_by_idempotency_key[claim[1]] += 1
        return stored

    async def _replay(self, stored: StoredResponse, send: Send, *, replayed: bool = True) -> None:
        headers = [(k, v) for k, v in stored.headers if k.lower() != b"content-length"]
        if stored.status not in (204, 304):
            headers.append((b"content-length", str(len(stored.body)).encode()))
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": stored.status, "headers": headers})
        await send({"type": "http.response.body", "body": stored.body})
