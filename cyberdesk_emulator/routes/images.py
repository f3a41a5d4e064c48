"""Run screenshots: ``GET /v1/runs/{id}/image/signed-url`` and the key-less signed PNG route.

Only an image referenced in the run's ``run_message_history`` can be signed (else 404; a URL
that is not a ``supabase://run-images/...`` reference is a 422). The signed URL serves the
generated PNG of that step without the API key until it expires, like attachment download URLs.
"""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from cyberdesk_emulator.agent_steps import IMAGE_PREFIX, parse_image_url, referenced_images
from cyberdesk_emulator.auth import EmuDep, OrgDep, find_run
from cyberdesk_emulator.png import screenshot_png
from cyberdesk_emulator.responses import ErrorOut
from cyberdesk_emulator.strict_json import StrictJSONRoute

from .common import API_ERRORS, json_response

router = APIRouter(
    prefix="/v1/runs", tags=["runs"], responses=API_ERRORS, route_class=StrictJSONRoute
)
signed_router = APIRouter(include_in_schema=False)

SIGNED_PATH = "/_files/run-images"


class RunImageSignedUrlOut(BaseModel):
    """A signed HTTPS URL for one screenshot of a run."""

    supabase_url: str
    signed_url: str
    expires_in: int


def _validation_error(message: str) -> HTTPException:
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["query", "image_url"], "msg": message, "type": "value_error"}],
    )


@router.get("/{run_id}/image/signed-url", response_model=RunImageSignedUrlOut)
async def run_image_signed_url(
    run_id: UUID,
    request: Request,
    org: OrgDep,
    emu: EmuDep,
    image_url: Annotated[str, Query(max_length=2048)],
    expires_in: Annotated[int, Query(ge=10, le=3600)] = 3600,
) -> Response:
    """Sign a screenshot referenced in the run's message history."""
    run = find_run(emu, org, run_id)
    parsed = parse_image_url(image_url)
    if parsed is None:
        raise _validation_error(f"image_url must be a {IMAGE_PREFIX}... screenshot reference")
    if image_url not in referenced_images(run):
        raise HTTPException(status_code=404, detail="Image not found in this run's history")
    path = image_url[len(IMAGE_PREFIX) :]
    expires = int(time.time()) + expires_in
    query = emu.signer.signed_query(path, expires)
    base = str(request.base_url).rstrip("/")
    return json_response(
        {
            "supabase_url": image_url,
            "signed_url": f"{base}{SIGNED_PATH}/{path}?{query}",
            "expires_in": expires_in,
        }
    )


@signed_router.get(
    SIGNED_PATH + "/{org_id}/{run_id}/{filename}", responses={403: {"model": ErrorOut}}
)
async def signed_image(
    org_id: str,
    run_id: str,
    filename: str,
    emu: EmuDep,
    expires: Annotated[int, Query(ge=0, le=2**62)] = 0,
    signature: str = "",
) -> Response:
    """Key-less PNG download; refuses tampered or expired signatures with 403."""
    path = f"{org_id}/{run_id}/{filename}"
    reason = emu.signer.check(path, expires, signature)
    if reason:
        raise HTTPException(status_code=403, detail=reason)
    parsed = parse_image_url(IMAGE_PREFIX + path)
    run = emu.store.runs.get(run_id)
    if parsed is None or run is None or run.org_id != org_id:
        raise HTTPException(status_code=404, detail="Image not found")
    return Response(
        content=screenshot_png(parsed[2]),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"},
    )
