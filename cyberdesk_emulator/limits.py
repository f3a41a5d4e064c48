"""Request-body size limit: a 413 before the body is read, and a byte count while it arrives.

Without a limit one request can make the server buffer any amount (a 280 MB JSON body cost a
gigabyte of RSS: the raw bytes, the decoded text and the parsed objects). The check is done
twice: a declared ``Content-Length`` above the limit is answered at once, without reading a
byte; a chunked body (no length) is counted as it arrives and refused as soon as it passes
the limit, so at most the limit plus one received piece is ever held.

The admin upload route (``POST /_emulator/runs/{id}/attachments``) streams to disk in 1 MiB
writes and is meant for gigabyte files, so it is exempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-zA-Z]*)\s*$")
_STREAMED_UPLOAD = re.compile(r"^/_emulator/runs/[^/]+/attachments/?$")


def parse_size(value: int | str) -> int:
    """Bytes of ``1048576``, ``"64MiB"``, ``"500 kB"`` or ``"1GiB"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a size must be a number of bytes, e.g. 67108864 or '64MiB'")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(value)
        unit = match.group(2).lower() if match else None
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"invalid size {value!r}: use a number of bytes or a unit such as '64MiB', "
                "'500kB', '1GiB'"
            )
        size = int(match.group(1)) * _UNITS[unit]
    if size < 1:
        raise ValueError("a size must be at least 1 byte")
    return size


def _too_large(limit: int) -> str:
    return (
        f"Request body too large: the limit is {limit} bytes "
        "(set with --max-body-bytes, settings.max_body_bytes or max_body_bytes=)"
    )


class BodyLimitMiddleware:
    """413 for bodies above ``limit()`` bytes (read per request: settings may change)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "POST" and _STREAMED_UPLOAD.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read: FastAPI passes an HTTPException
                    # through untouched and renders it as ``{"detail": ...}``.
                    raise HTTPException(
                        status_code=413, detail=_too_large(limit), headers={"Connection": "close"}
                    )
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _too_large(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The body was not read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def check_stored_inputs(limit: int, total: int, what: str) -> None:
    """413 when one request would store more than ``limit`` bytes of run inputs in all.

    A bulk copies its ``input_values`` into each of up to 1,000 runs and a chain its shared
    inputs into every step: without this, one body under the limit could store (and make every
    list answer) a thousand times the limit.
    """
    if total > limit:
        raise HTTPException(
            status_code=413,
            detail=f"{what} would store {total} bytes of input values in all, above the "
            f"{limit}-byte limit (max_body_bytes): send fewer runs or smaller inputs",
        )
