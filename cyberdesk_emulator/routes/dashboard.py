"""The offline run page: ``GET /dashboard/runs/{run_id}`` and the JSON it refreshes from.

This is what ``client.run_url(run_id)`` points at when the base URL is the emulator's (the
Airflow "Cyberdesk Run" extra link, the Prefect artifacts). Like the rest of the local
emulator's pages it needs no API key: the run id is the capability, and nothing on the page is
sensitive (no inputs, no secrets, output keys only). Screenshots and files load through the
key-less signed routes, so no URL on the page carries a key. A strict Content-Security-Policy
allows only the page's own nonce-tagged style and script, and images and fetches from this
origin.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from cyberdesk_emulator.auth import EmuDep
from cyberdesk_emulator.run_page_html import not_found_html, page_html, sections_html, step_html
from cyberdesk_emulator.run_page_view import build_view

from .common import json_response

router = APIRouter(include_in_schema=False)

PAGE_PATH = "/dashboard/runs/{run_id}"
LIVE_PATH = PAGE_PATH + "/live"


def _headers(nonce: str) -> dict[str, str]:
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@router.get(PAGE_PATH, response_class=HTMLResponse)
async def run_page(run_id: str, emu: EmuDep) -> HTMLResponse:
    """The run's page: status, timeline with screenshots, error, usage and attachments."""
    nonce = secrets.token_urlsafe(16)
    run = emu.store.runs.get(run_id)
    if run is None:
        return HTMLResponse(not_found_html(run_id, nonce), 404, headers=_headers(nonce))
    live_url = LIVE_PATH.format(run_id=run.id)
    return HTMLResponse(page_html(build_view(emu, run), live_url, nonce), headers=_headers(nonce))


@router.get(LIVE_PATH)
async def run_page_live(
    run_id: str, emu: EmuDep, after: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> Response:
    """The page's refreshable parts: sections, the steps from the last one shown on, status."""
    run = emu.store.runs.get(run_id)
    if run is None:
        return json_response({"detail": "Run not found"}, 404)
    view = build_view(emu, run)
    # The last step shown comes again: it may have gained its tool's answer since.
    first = max(min(after, len(view.steps)) - 1, 0)
    response = json_response(
        {
            "status": view.status,
            "terminal": view.terminal,
            "title": f"Run {view.run_id} [{view.status}]",
            "step_count": len(view.steps),
            "first": first,
            "steps": [step_html(step) for step in view.steps[first:]],
            "sections": sections_html(view),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
