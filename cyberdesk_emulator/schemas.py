"""Enumerations and request models (pydantic v2) of the emulated Cyberdesk API.

Request models validate bodies; FastAPI turns failures into 422 ``HTTPValidationError``.
Response models live in :mod:`cyberdesk_emulator.responses`.
"""

from __future__ import annotations

import base64
import binascii
import enum
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from .media import MEDIA_TYPE_PATTERN, check_media_type

MAX_BULK = 1000


class RunStatus(str, enum.Enum):
    """Lifecycle states of a run."""

    scheduling = "scheduling"
    running = "running"
    running_checks = "running_checks"
    success = "success"
    task_failed = "task_failed"
    error = "error"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for states a run only leaves through retry or PATCH."""
        return self in TERMINAL


TERMINAL = frozenset(
    {RunStatus.success, RunStatus.task_failed, RunStatus.error, RunStatus.cancelled}
)


class AttachmentType(str, enum.Enum):
    """Direction of a run attachment."""

    input = "input"
    output = "output"


class MachineStatus(str, enum.Enum):
    """Connection state of a machine."""

    connected = "connected"
    disconnected = "disconnected"
    error = "error"


class RunSortMode(str, enum.Enum):
    """Orderings accepted by ``GET /v1/runs``."""

    activity = "activity"
    created_at_desc = "created_at_desc"


class RunField(str, enum.Enum):
    """Optional run fields selectable with ``fields=``."""

    ended_at = "ended_at"
    error = "error"
    input_attachment_ids = "input_attachment_ids"
    input_values = "input_values"
    is_priority = "is_priority"
    machine_id = "machine_id"
    main_prompt = "main_prompt"
    model_metadata = "model_metadata"
    organization_id = "organization_id"
    output_attachment_ids = "output_attachment_ids"
    output_data = "output_data"
    pool_ids = "pool_ids"
    post_run_checks = "post_run_checks"
    release_session_after = "release_session_after"
    run_message_history = "run_message_history"
    sensitive_input_aliases = "sensitive_input_aliases"
    session_alias = "session_alias"
    session_id = "session_id"
    started_at = "started_at"
    usage_metadata = "usage_metadata"
    user_id = "user_id"


# ---------------------------------------------------------------- requests


def check_base64(value: str) -> str:
    """Reject file content that is not valid base64 (a 422, never a 500 later)."""
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("content must be base64-encoded file bytes") from exc
    return value


class ModelMetadata(BaseModel):
    """Per-run / per-workflow model overrides."""

    main_agent_model_id: UUID | None = None
    cache_detection_model_id: UUID | None = None
    fallback_model_1_id: UUID | None = None
    fallback_model_2_id: UUID | None = None


class FileInput(BaseModel):
    """A file copied onto the machine before the run; ``content`` is base64."""

    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(json_schema_extra={"format": "byte"})
    target_path: str | None = None
    cleanup_imports_after_run: bool = False

    @field_validator("content")
    @classmethod
    def _valid_base64(cls, value: str) -> str:
        return check_base64(value)

    def data(self) -> bytes:
        """Decoded file bytes."""
        return base64.b64decode(self.content)


class RunCreate(BaseModel):
    """Body of ``POST /v1/runs``."""

    workflow_id: UUID
    is_priority: bool = False
    main_prompt: str | None = None
    main_agent_model_id: UUID | None = None
    model_metadata: ModelMetadata | None = None
    machine_id: UUID | None = None
    pool_ids: list[UUID] | None = None
    input_values: dict[str, Any] | None = None
    file_inputs: list[FileInput] | None = None
    sensitive_input_values: dict[str, Any] | None = None
    session_id: UUID | None = None
    start_session: bool | None = False
    session_alias: str | None = None
    release_session_after: bool | None = None


class RunBulkCreate(BaseModel):
    """Body of ``POST /v1/runs/bulk``."""

    workflow_id: UUID
    count: int = Field(ge=1, le=MAX_BULK)
    is_priority: bool = False
    machine_id: UUID | None = None
    pool_ids: list[UUID] | None = None
    input_values: dict[str, Any] | None = None
    file_inputs: list[FileInput] | None = None
    sensitive_input_values: dict[str, Any] | None = None
    session_id: UUID | None = None
    start_session: bool | None = False


class ChainStep(BaseModel):
    """One step of a chain."""

    workflow_id: UUID
    session_alias: str | None = None
    inputs: dict[str, Any] | None = None
    sensitive_inputs: dict[str, Any] | None = None


class ChainCreate(BaseModel):
    """Body of ``POST /v1/runs/chain``."""

    steps: list[ChainStep] = Field(min_length=1, max_length=MAX_BULK)
    is_priority: bool = False
    shared_inputs: dict[str, Any] | None = None
    shared_sensitive_inputs: dict[str, Any] | None = None
    shared_file_inputs: list[FileInput] | None = None
    keep_session_after_completion: bool | None = False
    machine_id: UUID | None = None
    pool_ids: list[UUID] | None = None
    session_id: UUID | None = None


class RunRetry(BaseModel):
    """Body of ``POST /v1/runs/{run_id}/retry``."""

    input_values: dict[str, Any] | None = None
    sensitive_input_values: dict[str, Any] | None = None
    file_inputs: list[FileInput] | None = None
    machine_id: UUID | None = None
    pool_ids: list[UUID] | None = None
    reuse_session: bool | None = True
    session_id: UUID | None = None
    start_session: bool | None = False
    session_alias: str | None = None
    release_session_after: bool | None = None
    is_priority: bool | None = None


class RunUpdate(BaseModel):
    """Body of ``PATCH /v1/runs/{run_id}`` (only sent fields change)."""

    status: RunStatus | None = None
    error: list[str] | None = None
    output_data: dict[str, Any] | None = None
    output_attachment_ids: list[str] | None = None
    run_message_history: list[dict[str, Any]] | None = None
    input_values: dict[str, Any] | None = None
    usage_metadata: dict[str, Any] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    release_session_after: bool | None = None


class AttachmentCreate(BaseModel):
    """Body of ``POST /v1/run-attachments``."""

    run_id: UUID
    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(json_schema_extra={"format": "byte"})
    content_type: str = Field(max_length=255, json_schema_extra={"pattern": MEDIA_TYPE_PATTERN})
    attachment_type: AttachmentType
    target_path: str | None = None
    cleanup_imports_after_run: bool = False
    expires_at: datetime | None = None

    @field_validator("content")
    @classmethod
    def _valid_base64(cls, value: str) -> str:
        return check_base64(value)

    @field_validator("content_type")
    @classmethod
    def _valid_media_type(cls, value: str) -> str:
        # Stored, it becomes a header of every download: no CR/LF/NUL, no free text.
        return check_media_type(value)


class AttachmentUpdate(BaseModel):
    """Body of ``PUT /v1/run-attachments/{id}``."""

    expires_at: datetime | None = None


class MachineCreate(BaseModel):
    """Body of ``POST /v1/machines``."""

    fingerprint: str
    unkey_key_id: str
    name: str | None = None
    version: str | None = None
    hostname: str | None = None
    os_info: str | None = None
    machine_parameters: dict[str, Any] | None = None
    machine_sensitive_parameters: dict[str, Any] | None = None


class MachineUpdate(BaseModel):
    """Body of ``PATCH /v1/machines/{id}``."""

    name: str | None = None
    version: str | None = None
    hostname: str | None = None
    os_info: str | None = None
    status: MachineStatus | None = None
    is_available: bool | None = None
    alerts_enabled: bool | None = None
    last_seen: datetime | None = None
    reserved_session_id: UUID | None = None
    machine_parameters: dict[str, Any] | None = None
    machine_sensitive_parameters: dict[str, Any] | None = None


class MachinePoolsUpdate(BaseModel):
    """Body of ``PUT /v1/machines/{id}/pools``."""

    pool_ids: list[UUID]


class PoolCreate(BaseModel):
    """Body of ``POST /v1/pools``."""

    name: str = Field(min_length=1)
    description: str | None = None
    pool_parameters: dict[str, Any] | None = None
    pool_sensitive_parameters: dict[str, Any] | None = None


class PoolUpdate(BaseModel):
    """Body of ``PATCH /v1/pools/{id}``."""

    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    pool_parameters: dict[str, Any] | None = None
    pool_sensitive_parameters: dict[str, Any] | None = None


class PoolMachines(BaseModel):
    """Body of ``POST``/``DELETE /v1/pools/{id}/machines``."""

    machine_ids: list[UUID]


class WorkflowCreate(BaseModel):
    """Body of ``POST /v1/workflows``."""

    main_prompt: str
    name: str | None = None
    input_schema: str | None = None
    output_schema: str | None = None
    includes_file_exports: bool = False
    is_webhooks_enabled: bool = False
    terminal_command_allowlist: list[str] | None = None
    model_metadata: ModelMetadata | None = None
    post_run_check_failure_cleanup_prompt: str | None = None
    post_run_checks: list[dict[str, Any]] | None = None


class WorkflowUpdate(BaseModel):
    """Body of ``PATCH /v1/workflows/{id}``."""

    name: str | None = None
    main_prompt: str | None = None
    input_schema: str | None = None
    output_schema: str | None = None
    includes_file_exports: bool | None = None
    is_webhooks_enabled: bool | None = None
    terminal_command_allowlist: list[str] | None = None
    model_metadata: ModelMetadata | None = None
    post_run_check_failure_cleanup_prompt: str | None = None
    workflow_metadata: dict[str, Any] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
