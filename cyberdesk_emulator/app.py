"""FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from . import admin
from .limits import BodyLimitMiddleware
from .middleware import DropFilter, EmulatorMiddleware
from .routes import (
    attachments,
    dashboard,
    health,
    images,
    machines,
    pools,
    runs,
    trajectory,
    usage,
    workflows,
)
from .runtime import Emulator, Settings
from .seed import apply_seed
from .strict_json import SafeJSONResponse, printable

logger = logging.getLogger("cyberdesk_emulator")

DESCRIPTION = (
    "Local, wire-compatible emulator of the Cyberdesk API with simulated machines. "
    "Authenticate with `Authorization: Bearer <API_KEY>`."
)


# Locations whose submitted value is never echoed: secrets, and file content (base64 bytes).
_SECRET_HINTS = ("sensitive", "secret", "password", "token")
_OPAQUE_FIELDS = frozenset({"content"})
#: Longer submitted strings are not echoed: a 422 should name the field, not repeat the upload.
MAX_ECHOED_CHARS = 100


def _hidden(loc: list[str]) -> bool:
    return any(part in _OPAQUE_FIELDS for part in loc) or any(
        hint in part.lower() for part in loc for hint in _SECRET_HINTS
    )


def _scrub(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error without what was submitted, except short values of ordinary fields.

    FastAPI echoes the submitted value as ``input``: objects may hold sensitive values, file
    content may be megabytes (and a secret), so only short scalars of other fields come back.
    """
    clean = {k: v for k, v in error.items() if k not in ("input", "ctx", "url")}
    loc = [str(part) for part in error.get("loc", ())]
    clean["loc"] = [printable(p) if isinstance(p, str) else p for p in error.get("loc", ())]
    value = error.get("input")
    if not _hidden(loc):
        if isinstance(value, str) and len(value) <= MAX_ECHOED_CHARS:
            clean["input"] = printable(value)
        elif isinstance(value, (int, float, bool)):
            clean["input"] = value
    ctx = error.get("ctx")
    if isinstance(ctx, dict):
        clean["ctx"] = {k: printable(str(v))[: MAX_ECHOED_CHARS * 2] for k, v in ctx.items()}
    return clean


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse(status_code=422, content={"detail": [_scrub(e) for e in exc.errors()]})


def configure_logging(log_path: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send the one-line-per-request log to a file (and keep dropped-connection noise out)."""
    logger.setLevel(level)
    if log_path is not None:
        target = str(Path(log_path).resolve())
        if not any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
            handler = logging.FileHandler(target, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)


def create_app(
    emulator: Emulator | None = None,
    *,
    settings: Settings | None = None,
    seed: dict[str, Any] | None = None,
) -> FastAPI:
    """Build the ASGI app around an :class:`Emulator` (a new one from ``settings`` if omitted)."""
    emu = emulator or Emulator(settings or Settings())
    if seed:
        apply_seed(emu, seed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        emu.scheduler.kick()
        yield
        await emu.scheduler.shutdown()
        await emu.webhooks.aclose()

    app = FastAPI(
        title="Cyberdesk API (emulator)",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.emulator = emu
    app.add_exception_handler(RequestValidationError, _validation_handler)
    routers = (
        runs.router,
        images.router,
        images.signed_router,
        usage.router,
        usage.runs_router,
        trajectory.router,
        attachments.router,
        attachments.signed_router,
        machines.router,
        pools.router,
        workflows.router,
        health.router,
        health.legacy_router,
        dashboard.router,
        admin.router,
    )
    for router in routers:
        app.include_router(router)
    # Route templates come from the routers themselves: FastAPI's own route table layout
    # differs between versions.
    table = [route for router in routers for route in router.routes]
    # Added first, so it runs inside EmulatorMiddleware: a 413 is logged and counted.
    app.add_middleware(BodyLimitMiddleware, limit=lambda: emu.settings.max_body_bytes)
    app.add_middleware(EmulatorMiddleware, emulator=emu, routes=table)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DropFilter) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(DropFilter())
    return app
