"""Admin API under ``/_emulator/`` (header ``X-Emulator-Admin-Token``).

Not part of the Cyberdesk surface: excluded from API-key auth, fault injection, the request
statistics and the OpenAPI document.
"""

from __future__ import annotations

import hmac
import mimetypes
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from .auth import EmuDep, get_emulator
from .behaviors import Behavior, Outcome
from .blobs import CHUNK_SIZE, Blob
from .faults import FaultConfig
from .media import check_media_type
from .runtime import Emulator
from .schemas import AttachmentType
from .seed import apply_seed
from .state import Attachment, new_id
from .strict_json import StrictJSONRoute
from .wire import attachment_wire, run_wire


def require_admin(
    emu: Annotated[Emulator, Depends(get_emulator)],
    token: Annotated[str | None, Header(alias="X-Emulator-Admin-Token")] = None,
) -> None:
    """401 unless the admin token matches."""
    expected = emu.settings.admin_token
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status_code=401, detail="Missing or invalid X-Emulator-Admin-Token")


router = APIRouter(
    prefix="/_emulator",
    include_in_schema=False,
    dependencies=[Depends(require_admin)],
    route_class=StrictJSONRoute,
)


class FinishBody(BaseModel):
    """Body of ``POST /_emulator/runs/{id}/finish``."""

    outcome: Outcome | None = None


@router.get("/stats")
async def stats(emu: EmuDep) -> dict[str, Any]:
    """Request counts, creates per Idempotency-Key, latency percentiles, live object counts."""
    store = emu.store
    return {
        **emu.stats.snapshot(),
        "runs_in_memory": len(store.runs),
        "vault_entries": len(store.vault),
        "webhook_deliveries": len(emu.webhooks.deliveries),
    }


@router.post("/stats/reset", status_code=204, response_class=Response)
async def reset_stats(emu: EmuDep) -> Response:
    """Zero the counters."""
    emu.stats.reset()
    return Response(status_code=204)


@router.get("/faults")
async def get_faults(emu: EmuDep) -> dict[str, Any]:
    """The active fault configuration."""
    return emu.faults.config.model_dump()


@router.put("/faults")
async def set_faults(config: FaultConfig, emu: EmuDep) -> dict[str, Any]:
    """Replace the fault configuration (reseeds the fault RNG)."""
    emu.faults.configure(config)
    return emu.faults.config.model_dump()


@router.delete("/faults", status_code=204, response_class=Response)
async def clear_faults(emu: EmuDep) -> Response:
    """Remove every fault rule."""
    emu.faults.clear()
    return Response(status_code=204)


@router.put("/workflows/{workflow_id}/behavior")
async def set_behavior(workflow_id: str, behavior: Behavior, emu: EmuDep) -> dict[str, Any]:
    """Replace a workflow's simulated behaviour (applies to runs that start afterwards)."""
    workflow = emu.store.workflows.get(workflow_id)
    if workflow is None:
        raise HTTPException(status_code=404, detail=f"Workflow {workflow_id} not found")
    workflow.behavior = behavior
    return behavior.model_dump()


@router.get("/runs/{run_id}")
async def run_state(run_id: str, emu: EmuDep) -> dict[str, Any]:
    """Internal view of a run: wire fields plus scheduling facts (never secret values)."""
    run = emu.store.runs.get(run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"Run {run_id} not found")
    machine = emu.store.machines.get(run.machine_id or "")
    return {
        "run": run_wire(run),
        "requested_machine_id": run.requested_machine_id,
        "queue_position": emu.scheduler.queue_position(run.id),
        "executing": emu.scheduler.is_executing(run.id),
        "secrets_held": bool(emu.store.vault.resolve(run.sensitive_input_aliases)),
        "machine_reserved_session_id": machine.reserved_session_id if machine else None,
    }


@router.post("/runs/{run_id}/finish")
async def finish_run(run_id: str, body: FinishBody, emu: EmuDep) -> dict[str, Any]:
    """Skip the remaining simulated time of an executing run (optionally forcing its outcome)."""
    if run_id not in emu.store.runs:
        raise HTTPException(status_code=404, detail=f"Run {run_id} not found")
    if not emu.scheduler.finish_now(run_id, body.outcome):
        raise HTTPException(status_code=409, detail="Run is not executing on a machine")
    return {"run_id": run_id, "finishing": True}


async def _receive_blob(emu: Emulator, request: Request) -> Blob:
    """Stream the request body into the blob store, writing 1 MiB at a time off the loop."""
    writer = emu.blobs.writer()
    batch = bytearray()
    try:
        async for chunk in request.stream():
            batch += chunk
            if len(batch) >= CHUNK_SIZE:
                await to_thread.run_sync(writer.write, bytes(batch))
                batch.clear()
        await to_thread.run_sync(writer.write, bytes(batch))
        return await to_thread.run_sync(writer.finish)
    except BaseException:
        writer.abort()
        raise


@router.post("/runs/{run_id}/attachments", status_code=201)
async def add_attachment(
    run_id: str,
    request: Request,
    emu: EmuDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    attachment_type: AttachmentType = AttachmentType.output,
    content_type: Annotated[str | None, Query(max_length=255)] = None,
    target_path: str | None = None,
) -> JSONResponse:
    """Attach the raw request body to a run (streamed to disk: any size, little memory)."""
    if run_id not in emu.store.runs:
        raise HTTPException(status_code=404, detail=f"Run {run_id} not found")
    if content_type is not None:
        try:
            check_media_type(content_type)
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ["query", "content_type"], "msg": str(exc), "type": "value_error"}]
            ) from None
    blob = await _receive_blob(emu, request)
    run = emu.store.runs.get(run_id)
    if run is None:  # deleted while the body was arriving
        blob.discard()
        raise HTTPException(status_code=404, detail=f"Run {run_id} not found")
    att = Attachment(
        id=new_id(),
        org_id=run.org_id,
        run_id=run.id,
        filename=filename,
        content_type=content_type
        or mimetypes.guess_type(filename)[0]
        or "application/octet-stream",
        attachment_type=attachment_type.value,
        blob=blob,
        target_path=target_path,
    )
    emu.store.add_attachment(att)
    input_file = attachment_type is AttachmentType.input
    (run.input_attachment_ids if input_file else run.output_attachment_ids).append(att.id)
    return JSONResponse(attachment_wire(att), status_code=201)


@router.post("/seed")
async def seed(data: dict[str, Any], emu: EmuDep) -> dict[str, Any]:
    """Add organizations, workflows, machines, pools and webhook endpoints."""
    try:
        return apply_seed(emu, data)
    except ValueError as exc:  # names fields, never values (seeds carry secrets)
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.get("/webhooks/deliveries")
async def webhook_deliveries(emu: EmuDep) -> list[dict[str, Any]]:
    """Recent webhook delivery attempts (bodies are not kept)."""
    return list(emu.webhooks.deliveries)


@router.post("/reset", status_code=204, response_class=Response)
async def reset(emu: EmuDep) -> Response:
    """Drop all objects except organizations; zero the counters."""
    emu.reset()
    return Response(status_code=204)
