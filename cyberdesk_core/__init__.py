"""Typed sync + async client of the Cyberdesk HTTP API, shared by the engine integrations.

Names are imported on first use (PEP 562) so that `import cyberdesk_core` (e.g. from an Airflow
DAG file parsed every few seconds) costs next to nothing; pydantic and httpx load only when a
model or client is actually needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.cancelling import (
        CancelOutcome,
        acancel_active_runs,
        acancel_if_active,
        cancel_active_runs,
        cancel_if_active,
    )
    from cyberdesk_core.chain_resuming import (
        ChainResume,
        ChainResumed,
        aresume_earlier_chain,
        plan_chain_resume,
        resume_earlier_chain,
    )
    from cyberdesk_core.client import CyberdeskClient
    from cyberdesk_core.errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        CyberdeskError,
        DownloadError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        RunCancelledError,
        RunError,
        RunFailedError,
        RunTimeoutError,
        ServerError,
        ValidationError,
        is_transient,
    )
    from cyberdesk_core.idempotency import derive_idempotency_key, new_idempotency_key
    from cyberdesk_core.inputs import (
        normalize_file_inputs,
        validate_input_values,
        validate_timeouts,
    )
    from cyberdesk_core.models import (
        TERMINAL_STATUSES,
        AttachmentType,
        BulkCreateResult,
        ChainResult,
        ChainStep,
        DownloadResult,
        DownloadUrl,
        FileInput,
        Machine,
        MachineStatus,
        Page,
        Pool,
        PoolWithMachines,
        RefValue,
        Run,
        RunAttachment,
        RunStatus,
        Workflow,
    )
    from cyberdesk_core.reattaching import (
        EarlierRunAction,
        Reconciled,
        areconcile_earlier_run,
        areconcile_earlier_runs,
        decide_earlier_run,
        describe_batch,
        reconcile_earlier_run,
        reconcile_earlier_runs,
    )
    from cyberdesk_core.summaries import BulkSummary, FailPolicy, describe_run
    from cyberdesk_core.transport import DEFAULT_BASE_URL, RetryPolicy
    from cyberdesk_core.waiting import RunWatcher, await_run, raise_for_run_status, wait_for_run

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "ChainResume": "cyberdesk_core.chain_resuming",
    "resume_earlier_chain": "cyberdesk_core.chain_resuming",
    "aresume_earlier_chain": "cyberdesk_core.chain_resuming",
    "ChainResumed": "cyberdesk_core.chain_resuming",
    "EarlierRunAction": "cyberdesk_core.reattaching",
    "Reconciled": "cyberdesk_core.reattaching",
    "areconcile_earlier_run": "cyberdesk_core.reattaching",
    "areconcile_earlier_runs": "cyberdesk_core.reattaching",
    "decide_earlier_run": "cyberdesk_core.reattaching",
    "describe_batch": "cyberdesk_core.reattaching",
    "plan_chain_resume": "cyberdesk_core.chain_resuming",
    "reconcile_earlier_run": "cyberdesk_core.reattaching",
    "reconcile_earlier_runs": "cyberdesk_core.reattaching",
    "APIConnectionError": "cyberdesk_core.errors",
    "APIError": "cyberdesk_core.errors",
    "APITimeoutError": "cyberdesk_core.errors",
    "AsyncCyberdeskClient": "cyberdesk_core.aclient",
    "AttachmentType": "cyberdesk_core.models",
    "AuthenticationError": "cyberdesk_core.errors",
    "BadRequestError": "cyberdesk_core.errors",
    "BulkCreateResult": "cyberdesk_core.models",
    "BulkSummary": "cyberdesk_core.summaries",
    "CancelOutcome": "cyberdesk_core.cancelling",
    "ChainResult": "cyberdesk_core.models",
    "ChainStep": "cyberdesk_core.models",
    "ConfigurationError": "cyberdesk_core.errors",
    "ConflictError": "cyberdesk_core.errors",
    "CyberdeskClient": "cyberdesk_core.client",
    "CyberdeskError": "cyberdesk_core.errors",
    "DEFAULT_BASE_URL": "cyberdesk_core.transport",
    "DownloadError": "cyberdesk_core.errors",
    "DownloadResult": "cyberdesk_core.models",
    "DownloadUrl": "cyberdesk_core.models",
    "FailPolicy": "cyberdesk_core.summaries",
    "FileInput": "cyberdesk_core.models",
    "Machine": "cyberdesk_core.models",
    "MachineStatus": "cyberdesk_core.models",
    "NotFoundError": "cyberdesk_core.errors",
    "Page": "cyberdesk_core.models",
    "PermissionDeniedError": "cyberdesk_core.errors",
    "Pool": "cyberdesk_core.models",
    "PoolWithMachines": "cyberdesk_core.models",
    "RateLimitError": "cyberdesk_core.errors",
    "RefValue": "cyberdesk_core.models",
    "RetryPolicy": "cyberdesk_core.transport",
    "Run": "cyberdesk_core.models",
    "RunAttachment": "cyberdesk_core.models",
    "RunCancelledError": "cyberdesk_core.errors",
    "RunError": "cyberdesk_core.errors",
    "RunFailedError": "cyberdesk_core.errors",
    "RunStatus": "cyberdesk_core.models",
    "RunTimeoutError": "cyberdesk_core.errors",
    "RunWatcher": "cyberdesk_core.waiting",
    "ServerError": "cyberdesk_core.errors",
    "TERMINAL_STATUSES": "cyberdesk_core.models",
    "ValidationError": "cyberdesk_core.errors",
    "Workflow": "cyberdesk_core.models",
    "acancel_active_runs": "cyberdesk_core.cancelling",
    "acancel_if_active": "cyberdesk_core.cancelling",
    "await_run": "cyberdesk_core.waiting",
    "cancel_active_runs": "cyberdesk_core.cancelling",
    "cancel_if_active": "cyberdesk_core.cancelling",
    "derive_idempotency_key": "cyberdesk_core.idempotency",
    "describe_run": "cyberdesk_core.summaries",
    "is_transient": "cyberdesk_core.errors",
    "new_idempotency_key": "cyberdesk_core.idempotency",
    "normalize_file_inputs": "cyberdesk_core.inputs",
    "raise_for_run_status": "cyberdesk_core.waiting",
    "validate_input_values": "cyberdesk_core.inputs",
    "validate_timeouts": "cyberdesk_core.inputs",
    "wait_for_run": "cyberdesk_core.waiting",
}

__all__ = [
    "DEFAULT_BASE_URL",
    "TERMINAL_STATUSES",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncCyberdeskClient",
    "AttachmentType",
    "AuthenticationError",
    "BadRequestError",
    "BulkCreateResult",
    "BulkSummary",
    "CancelOutcome",
    "ChainResult",
    "ChainResume",
    "ChainResumed",
    "ChainStep",
    "ConfigurationError",
    "ConflictError",
    "CyberdeskClient",
    "CyberdeskError",
    "DownloadError",
    "DownloadResult",
    "DownloadUrl",
    "EarlierRunAction",
    "FailPolicy",
    "FileInput",
    "Machine",
    "MachineStatus",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Pool",
    "PoolWithMachines",
    "RateLimitError",
    "Reconciled",
    "RefValue",
    "RetryPolicy",
    "Run",
    "RunAttachment",
    "RunCancelledError",
    "RunError",
    "RunFailedError",
    "RunStatus",
    "RunTimeoutError",
    "RunWatcher",
    "ServerError",
    "ValidationError",
    "Workflow",
    "__version__",
    "acancel_active_runs",
    "acancel_if_active",
    "areconcile_earlier_run",
    "areconcile_earlier_runs",
    "aresume_earlier_chain",
    "await_run",
    "cancel_active_runs",
    "cancel_if_active",
    "decide_earlier_run",
    "derive_idempotency_key",
    "describe_batch",
    "describe_run",
    "is_transient",
    "new_idempotency_key",
    "normalize_file_inputs",
    "plan_chain_resume",
    "raise_for_run_status",
    "reconcile_earlier_run",
    "reconcile_earlier_runs",
    "resume_earlier_chain",
    "validate_input_values",
    "validate_timeouts",
    "wait_for_run",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cyberdesk_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
