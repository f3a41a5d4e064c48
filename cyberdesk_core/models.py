"""Pydantic v2 models of the Cyberdesk wire objects.

Response models keep unknown fields (`extra="allow"`) so a newer API never breaks parsing. Ids
are plain UUID strings, timestamps are timezone-aware datetimes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cyberdesk_core._status import TERMINAL_STATUSES, AttachmentType, MachineStatus, RunStatus
from cyberdesk_core.payloads import ChainStep, FileInput, RefValue

__all__ = [
    "TERMINAL_STATUSES",
    "AttachmentType",
    "BulkCreateResult",
    "ChainResult",
    "ChainStep",
    "DownloadResult",
    "DownloadUrl",
    "FileInput",
    "Machine",
    "MachineStatus",
    "Page",
    "Pool",
    "PoolWithMachines",
    "RefValue",
    "Run",
    "RunAttachment",
    "RunStatus",
    "Workflow",
]

T = TypeVar("T")


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Run(_Response):
    """A workflow run (cyberdesk-api.md 3.2). List calls with `fields=` return partial runs."""

    id: str
    workflow_id: str
    status: RunStatus
    created_at: datetime
    machine_id: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    is_priority: bool = False
    error: list[str] | None = None
    output_data: dict[str, Any] | None = None
    input_attachment_ids: list[str] | None = None
    output_attachment_ids: list[str] | None = None
    run_message_history: list[dict[str, Any]] | None = Field(default=None, repr=False)
    input_values: dict[str, Any] | None = None
    main_prompt: str | None = None
    model_metadata: dict[str, Any] | None = None
    pool_ids: list[str] | None = None
    sensitive_input_aliases: dict[str, Any] | None = None
    usage_metadata: dict[str, Any] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    session_id: str | None = None
    session_alias: str | None = None
    release_session_after: bool | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    included: list[dict[str, Any]] | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run has finished (success, task_failed, error or cancelled)."""
        return self.status.is_terminal


class RunAttachment(_Response):
    """Metadata of a file attached to a run (input or output)."""

    id: str
    run_id: str
    filename: str
    content_type: str
    attachment_type: AttachmentType
    size_bytes: int
    storage_path: str | None = None
    created_at: datetime | None = None
    target_path: str | None = None
    cleanup_imports_after_run: bool = False
    user_id: str | None = None
    organization_id: str | None = None
    expires_at: datetime | None = None


class Pool(_Response):
    """A pool of machines."""

    id: str
    name: str
    organization_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    description: str | None = None
    pool_parameters: dict[str, Any] | None = None
    pool_sensitive_parameters: dict[str, Any] | None = None
    machine_count: int = 0


class Machine(_Response):
    """A remote desktop that executes runs."""

    id: str
    status: MachineStatus | str
    is_available: bool = False
    unkey_key_id: str | None = None
    alerts_enabled: bool = False
    created_at: datetime | None = None
    last_seen: datetime | None = None
    name: str | None = None
    version: str | None = None
    hostname: str | None = None
    os_info: str | None = None
    machine_parameters: dict[str, Any] | None = None
    machine_sensitive_parameters: dict[str, Any] | None = None
    user_id: str | None = None
    organization_id: str | None = None
    reserved_session_id: str | None = None
    linked_keepalive_machine_id: str | None = None
    physical_server_id: str | None = None
    pools: list[Pool] | None = None
    included: list[dict[str, Any]] | None = None


class PoolWithMachines(Pool):
    """A pool together with its machines."""

    machines: list[Machine] = Field(default_factory=list)
    included: list[dict[str, Any]] | None = None

    @field_validator("machines", mode="before")
    @classmethod
    def _null_means_none_listed(cls, value: Any) -> Any:
        # GET /v1/pools/{id} sends `machines: null` unless include=machines was asked for.
        return [] if value is None else value


class Workflow(_Response):
    """A workflow: the prompt and settings runs execute."""

    id: str
    main_prompt: str = ""
    name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    input_schema: str | None = None
    output_schema: str | None = None
    includes_file_exports: bool = False
    is_webhooks_enabled: bool = False
    terminal_command_allowlist: list[str] | None = None
    model_metadata: dict[str, Any] | None = None
    post_run_check_failure_cleanup_prompt: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    includes_input_variables: bool = False
    workflow_metadata: dict[str, Any] | None = None
    old_versions: list[dict[str, Any]] | None = None
    tags: list[dict[str, Any]] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    included: list[dict[str, Any]] | None = None


class Page(_Response, Generic[T]):
    """One page of a list endpoint: `items`, `total` matches, `skip`, `limit`, `included`."""

    items: list[T]
    total: int = 0
    skip: int = 0
    limit: int = 100
    included: list[dict[str, Any]] | None = None


class BulkCreateResult(_Response):
    """Result of `runs.bulk_create`: partial success is possible within one 201."""

    created_runs: list[Run]
    failed_count: int = 0
    errors: list[str] | None = None


class ChainResult(_Response):
    """Result of `runs.chain`: the session and one run id per step, in order."""

    session_id: str
    run_ids: list[str]


class DownloadUrl(_Response):
    """A signed download URL; `expires_at` is computed client-side when the server omits it."""

    url: str = Field(repr=False)
    expires_in: int
    expires_at: datetime | None = None


class DownloadResult(_Response):
    """Outcome of `run_attachments.download`; `path` is None when written to a file object."""

    attachment_id: str
    filename: str
    path: Path | None
    size_bytes: int
