"""Response models of the emulated Cyberdesk API (they document ``/openapi.json``).

Handlers return ready-made JSON; these models only describe it, so fields that ``fields=``
projection can omit are optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from cyberdesk_emulator.schemas import AttachmentType, MachineStatus, RunStatus


class ErrorOut(BaseModel):
    """Body of non-422 errors."""

    detail: str


class IncludedResource(BaseModel):
    """A side-loaded related object (``type`` + ``id`` + the resource's fields)."""

    model_config = ConfigDict(extra="allow")
    type: str
    id: str


class RunOut(BaseModel):
    """A run; only the five base fields are guaranteed under ``fields=`` projection."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    workflow_id: UUID
    machine_id: UUID | None
    status: RunStatus
    created_at: datetime
    user_id: UUID | None = None
    organization_id: str | None = None
    is_priority: bool | None = None
    error: list[str] | None = None
    output_data: dict[str, Any] | None = None
    input_attachment_ids: list[str] | None = None
    output_attachment_ids: list[str] | None = None
    run_message_history: list[dict[str, Any]] | None = None
    input_values: dict[str, Any] | None = None
    main_prompt: str | None = None
    model_metadata: dict[str, Any] | None = None
    pool_ids: list[UUID] | None = None
    sensitive_input_aliases: dict[str, str] | None = None
    usage_metadata: dict[str, Any] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    session_id: UUID | None = None
    session_alias: str | None = None
    release_session_after: bool | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class RunWithIncludesOut(RunOut):
    """``GET /v1/runs/{id}`` response."""

    included: list[IncludedResource] | None = None


class RunPage(BaseModel):
    """Page of runs."""

    items: list[RunOut]
    total: int
    skip: int
    limit: int
    included: list[IncludedResource] | None = None


class BulkOut(BaseModel):
    """``POST /v1/runs/bulk`` response."""

    created_runs: list[RunOut]
    failed_count: int = 0
    errors: list[str] | None = None


class ChainOut(BaseModel):
    """``POST /v1/runs/chain`` response."""

    session_id: UUID
    run_ids: list[UUID]


class AttachmentOut(BaseModel):
    """A run attachment (metadata only)."""

    id: UUID
    run_id: UUID
    filename: str
    content_type: str
    attachment_type: AttachmentType
    size_bytes: int
    storage_path: str
    created_at: datetime
    target_path: str | None = None
    cleanup_imports_after_run: bool = False
    user_id: UUID | None = None
    organization_id: str | None = None
    expires_at: datetime | None = None


class AttachmentPage(BaseModel):
    """Page of attachments."""

    items: list[AttachmentOut]
    total: int
    skip: int
    limit: int


class DownloadUrlOut(BaseModel):
    """Signed download URL of an attachment."""

    url: str
    expires_in: int
    expires_at: datetime | None = None


class PoolOut(BaseModel):
    """A pool."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    organization_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    pool_parameters: dict[str, Any] | None = None
    pool_sensitive_parameters: dict[str, str] | None = None
    machine_count: int = 0


class MachineOut(BaseModel):
    """A machine (sensitive parameters appear as aliases only)."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    unkey_key_id: str
    status: MachineStatus
    is_available: bool
    alerts_enabled: bool
    created_at: datetime
    last_seen: datetime
    name: str | None = None
    version: str | None = None
    hostname: str | None = None
    os_info: str | None = None
    machine_parameters: dict[str, Any] | None = None
    machine_sensitive_parameters: dict[str, str] | None = None
    user_id: UUID | None = None
    organization_id: str | None = None
    reserved_session_id: UUID | None = None
    linked_keepalive_machine_id: UUID | None = None
    physical_server_id: str | None = None
    pools: list[PoolOut] | None = None
    included: list[IncludedResource] | None = None


class PoolWithMachinesOut(PoolOut):
    """A pool with its machines."""

    machines: list[MachineOut] | None = None
    included: list[IncludedResource] | None = None


class MachinePage(BaseModel):
    """Page of machines."""

    items: list[MachineOut]
    total: int
    skip: int
    limit: int
    included: list[IncludedResource] | None = None


class PoolPage(BaseModel):
    """Page of pools."""

    items: list[PoolOut]
    total: int
    skip: int
    limit: int
    included: list[IncludedResource] | None = None


class WorkflowOut(BaseModel):
    """A workflow."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    main_prompt: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    input_schema: str | None = None
    output_schema: str | None = None
    includes_file_exports: bool = False
    is_webhooks_enabled: bool = False
    terminal_command_allowlist: list[str] | None = None
    model_metadata: dict[str, Any] | None = None
    post_run_check_failure_cleanup_prompt: str | None = None
    user_id: UUID | None = None
    organization_id: str | None = None
    includes_input_variables: bool = False
    workflow_metadata: dict[str, Any] | None = None
    old_versions: list[dict[str, Any]] | None = None
    tags: list[dict[str, Any]] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    included: list[IncludedResource] | None = None


class WorkflowPage(BaseModel):
    """Page of workflows."""

    items: list[WorkflowOut]
    total: int
    skip: int
    limit: int
    included: list[IncludedResource] | None = None


class MachineHealthError(BaseModel):
    """One unhealthy machine in ``GET /v1/health/machines``."""

    machine_id: UUID
    error: str
    organization_id: str | None = None
    machine_name: str | None = None
    status_code: int | None = None


class MachinesHealthOut(BaseModel):
    """``GET /v1/health/machines`` response."""

    status: str
    scope: str
    checked_machines: int
    healthy_machines: int
    errored_machines: list[MachineHealthError]
    message: str
