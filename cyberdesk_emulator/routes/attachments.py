"""``/v1/run-attachments`` routes and the key-less signed download endpoint.

Downloads of file-backed content are streamed from the file in 1 MiB pieces with a
``Content-Length``, so serving a gigabyte costs the server a megabyte of memory.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from cyberdesk_emulator.auth import EmuDep, OrgDep, find_attachment, find_run
from cyberdesk_emulator.blobs import stream
from cyberdesk_emulator.media import download_headers, served_type
from cyberdesk_emulator.responses import (
    AttachmentOut,
    AttachmentPage,
    DownloadUrlOut,
    ErrorOut,
)
from cyberdesk_emulator.schemas import (
    AttachmentCreate,
    AttachmentType,
    AttachmentUpdate,
)
from cyberdesk_emulator.state import Attachment, new_id
from cyberdesk_emulator.strict_json import StrictJSONRoute
from cyberdesk_emulator.wire import attachment_wire, iso

from .common import API_ERRORS, IdempotencyKey, Limit, Skip, json_response, no_content, utc

router = APIRouter(
    prefix="/v1/run-attachments",
    tags=["run-attachments"],
    responses=API_ERRORS,
    route_class=StrictJSONRoute,
)
signed_router = APIRouter(include_in_schema=False)

SIGNED_PATH = "/_files/run-attachments"


def _file_response(att: Attachment) -> Response:
    # Same headers for the keyed route and the key-less signed URL: always a download, never
    # sniffed, never rendered as a page of the emulator's origin (see ``media``).
    headers = download_headers(att.filename)
    media_type = served_type(att.content_type)
    blob = att.blob
    if blob.path is None:
        return Response(content=blob.data, media_type=media_type, headers=headers)
    try:
        # Opened before answering: deleting the attachment mid-download cannot cut it short.
        reader = blob.open()
    except FileNotFoundError:
        raise HTTPException(status_code=404, detail="File not found") from None
    headers["Content-Length"] = str(blob.size)
    return StreamingResponse(stream(reader), media_type=media_type, headers=headers)


@router.get("", response_model=AttachmentPage)
async def list_attachments(
    org: OrgDep,
    emu: EmuDep,
    run_id: UUID | None = None,
    attachment_type: AttachmentType | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> Response:
    """Attachments of the organization, newest first."""
    store = emu.store
    if run_id is not None:
        run = store.runs.get(str(run_id))
        ids: list[str] = []
        if run is not None and run.org_id == org.id:
            ids = [*run.input_attachment_ids, *run.output_attachment_ids]
        candidates = [store.attachments[i] for i in ids if i in store.attachments]
    else:
        candidates = list(store.attachments.values())
    # Whatever a run's id lists say, only the organization's own attachments are listed.
    candidates = [a for a in candidates if a.org_id == org.id]
    if attachment_type is not None:
        candidates = [a for a in candidates if a.attachment_type == attachment_type.value]
    candidates.sort(key=lambda a: a.created_at, reverse=True)
    window = candidates[skip : skip + limit]
    return json_response(
        {
            "items": [attachment_wire(a) for a in window],
            "total": len(candidates),
            "skip": skip,
            "limit": limit,
        }
    )


@router.post("", status_code=201, response_model=AttachmentOut)
async def create_attachment(
    body: AttachmentCreate, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Upload an attachment to a run (content is base64)."""
    run = find_run(emu, org, body.run_id)
    att = Attachment(
        id=new_id(),
        org_id=org.id,
        run_id=run.id,
        filename=body.filename,
        content_type=body.content_type,
        attachment_type=body.attachment_type.value,
        blob=emu.blobs.from_bytes(base64.b64decode(body.content)),
        target_path=body.target_path,
        cleanup_imports_after_run=body.cleanup_imports_after_run,
        expires_at=utc(body.expires_at),
    )
    emu.store.add_attachment(att)
    target = (
        run.input_attachment_ids if att.attachment_type == "input" else run.output_attachment_ids
    )
    target.append(att.id)
    return json_response(attachment_wire(att), 201)


@router.get("/{attachment_id}", response_model=AttachmentOut)
async def get_attachment(attachment_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """Attachment metadata."""
    return json_response(attachment_wire(find_attachment(emu, org, attachment_id)))


@router.put("/{attachment_id}", response_model=AttachmentOut)
async def update_attachment(
    attachment_id: UUID,
    body: AttachmentUpdate,
    org: OrgDep,
    emu: EmuDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Only ``expires_at`` is updatable."""
    att = find_attachment(emu, org, attachment_id)
    att.expires_at = utc(body.expires_at)
    return json_response(attachment_wire(att))


@router.delete("/{attachment_id}", status_code=204, response_class=Response)
async def delete_attachment(
    attachment_id: UUID, org: OrgDep, emu: EmuDep, idempotency_key: IdempotencyKey = None
) -> Response:
    """Delete the record and its stored bytes."""
    att = find_attachment(emu, org, attachment_id)
    emu.store.drop_attachment(att.id)
    run = emu.store.runs.get(att.run_id)
    if run is not None:
        for ids in (run.input_attachment_ids, run.output_attachment_ids):
            if att.id in ids:
                ids.remove(att.id)
    return no_content()


@router.get(
    "/{attachment_id}/download",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "File bytes"}},
)
async def download_attachment(attachment_id: UUID, org: OrgDep, emu: EmuDep) -> Response:
    """Raw file bytes."""
    return _file_response(find_attachment(emu, org, attachment_id))


@router.get("/{attachment_id}/download-url", response_model=DownloadUrlOut)
async def download_url(
    attachment_id: UUID,
    request: Request,
    org: OrgDep,
    emu: EmuDep,
    expires_in: Annotated[int, Query(ge=10, le=3600)] = 300,
) -> Response:
    """A signed URL that downloads the file without the API key until it expires."""
    att = find_attachment(emu, org, attachment_id)
    expires = int(time.time()) + expires_in
    query = emu.signer.signed_query(att.id, expires)
    base = str(request.base_url).rstrip("/")
    return json_response(
        {
            "url": f"{base}{SIGNED_PATH}/{att.id}?{query}",
            "expires_in": expires_in,
            "expires_at": iso(datetime.fromtimestamp(expires, tz=timezone.utc)),
        }
    )


@signed_router.get(SIGNED_PATH + "/{attachment_id}", responses={403: {"model": ErrorOut}})
async def signed_download(
    attachment_id: str,
    emu: EmuDep,
    expires: Annotated[int, Query(ge=0, le=2**62)] = 0,
    signature: str = "",
) -> Response:
    """Key-less download; refuses tampered or expired signatures with 403."""
    reason = emu.signer.check(attachment_id, expires, signature)
    if reason:
        raise HTTPException(status_code=403, detail=reason)
    att = emu.store.attachments.get(attachment_id)
    if att is None:
        raise HTTPException(status_code=404, detail="File not found")
    return _file_response(att)
