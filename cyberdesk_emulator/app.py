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
from .middleware import DropFilter, EmulatorMiddleware
from .routes import attachments, health, machines, pools, runs, workflows
from .runtime import Emulator, Settings
from .seed import apply_seed

logger = logging.getLogger("cyberdesk_emulator")

DESCRIPTION = (
    "Local, wire-compatible emulator of the Cyberdesk API with simulated machines. "
    "Authenticate with `Authorization: Bearer <API_KEY>`."
)


def _scrub(error: dict[str, Any]) -> dict[str, Any]:
    """Validation errors never echo submitted objects (they may hold sensitive values)."""
    clean = {k: v for k, v in error.items() if k not in ("input", "ctx", "url")}
    loc = [str(part) for part in error.get("loc", ())]
    value = error.get("input")
    if not any("sensitive" in part for part in loc) and isinstance(value, (str, int, float, bool)):
        clean["input"] = value
    ctx = error.get("ctx")
    if isinstance(ctx, dict):
        clean["ctx"] = {k: str(v) for k, v in ctx.items()}
    return clean


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": [_scrub(e) for e in exc.errors()]})


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
    )
    app.state.emulator = emu
    app.add_exception_handler(RequestValidationError, _validation_handler)
    routers = (
        runs.router,
        attachments.router,
        attachments.signed_router,
        machines.router,
        pools.router,
        workflows.router,
        health.router,
        health.legacy_router,
        admin.router,
    )
    for router in routers:
        app.include_router(router)
    # Route templates come from the routers themselves: FastAPI's own route table layout
    # differs between versions.
    table = [route for router in routers for route in router.routes]
    app.add_middleware(EmulatorMiddleware, emulator=emu, routes=table)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DropFilter) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(DropFilter())
    return app
