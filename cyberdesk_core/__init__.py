"""Typed sync + async client of the Cyberdesk HTTP API, shared by the engine integrations.

Names are imported on first use (PEP 562) so that `import cyberdesk_core` (e.g. from an Airflow
DAG file parsed every few seconds) costs next to nothing; pydantic and httpx load only when a
model or client is actually needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cyberdesk_core._lazy import LazyExports

# What type checkers see (``X as X`` re-exports it); a test checks it matches _LAZY.
if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient as AsyncCyberdeskClient
    from cyberdesk_core.cancel_active import CancelOutcome as CancelOutcome
    from cyberdesk_core.cancel_active import acancel_active_runs as acancel_active_runs
    from cyberdesk_core.cancel_active import acancel_if_active as acancel_if_active
    from cyberdesk_core.cancel_active import cancel_active_runs as cancel_active_runs
    from cyberdesk_core.cancel_active import cancel_if_active as cancel_if_active
    from cyberdesk_core.chain_resuming import ChainResume as ChainResume
    from cyberdesk_core.chain_resuming import ChainResumed as ChainResumed
    from cyberdesk_core.chain_resuming import aresume_earlier_chain as aresume_earlier_chain
    from cyberdesk_core.chain_resuming import plan_chain_resume as plan_chain_resume
    from cyberdesk_core.chain_resuming import resume_earlier_chain as resume_earlier_chain
    from cyberdesk_core.client import CyberdeskClient as CyberdeskClient
    from cyberdesk_core.errors import APIConnectionError as APIConnectionError
    from cyberdesk_core.errors import APIError as APIError
    from cyberdesk_core.errors import APITimeoutError as APITimeoutError
    from cyberdesk_core.errors import AuthenticationError as AuthenticationError
    from cyberdesk_core.errors import BadRequestError as BadRequestError
    from cyberdesk_core.errors import ConfigurationError as ConfigurationError
    from cyberdesk_core.errors import ConflictError as ConflictError
    from cyberdesk_core.errors import CyberdeskError as CyberdeskError
    from cyberdesk_core.errors import DownloadError as DownloadError
    from cyberdesk_core.errors import NotFoundError as NotFoundError
    from cyberdesk_core.errors import PermissionDeniedError as PermissionDeniedError
    from cyberdesk_core.errors import RateLimitError as RateLimitError
    from cyberdesk_core.errors import RunCancelledError as RunCancelledError
    from cyberdesk_core.errors import RunError as RunError
    from cyberdesk_core.errors import RunFailedError as RunFailedError
    from cyberdesk_core.errors import RunTimeoutError as RunTimeoutError
    from cyberdesk_core.errors import ServerError as ServerError
    from cyberdesk_core.errors import ValidationError as ValidationError
    from cyberdesk_core.errors import is_transient as is_transient
    from cyberdesk_core.idempotency import derive_idempotency_key as derive_idempotency_key
    from cyberdesk_core.idempotency import new_idempotency_key as new_idempotency_key
    from cyberdesk_core.inputs import normalize_file_inputs as normalize_file_inputs
    from cyberdesk_core.inputs import validate_input_values as validate_input_values
    from cyberdesk_core.inputs import validate_timeouts as validate_timeouts
    from cyberdesk_core.models import TERMINAL_STATUSES as TERMINAL_STATUSES
    from cyberdesk_core.models import AttachmentType as AttachmentType
    from cyberdesk_core.models import BulkCreateResult as BulkCreateResult
    from cyberdesk_core.models import ChainResult as ChainResult
    from cyberdesk_core.models import ChainStep as ChainStep
    from cyberdesk_core.models import DownloadResult as DownloadResult
    from cyberdesk_core.models import DownloadUrl as DownloadUrl
    from cyberdesk_core.models import FileInput as FileInput
    from cyberdesk_core.models import Machine as Machine
    from cyberdesk_core.models import MachineStatus as MachineStatus
    from cyberdesk_core.models import Page as Page
    from cyberdesk_core.models import Pool as Pool
    from cyberdesk_core.models import PoolWithMachines as PoolWithMachines
    from cyberdesk_core.models import RefValue as RefValue
    from cyberdesk_core.models import Run as Run
    from cyberdesk_core.models import RunAttachment as RunAttachment
    from cyberdesk_core.models import RunStatus as RunStatus
    from cyberdesk_core.models import Workflow as Workflow
    from cyberdesk_core.reattaching import EarlierRunAction as EarlierRunAction
    from cyberdesk_core.reattaching import Reconciled as Reconciled
    from cyberdesk_core.reattaching import areconcile_earlier_run as areconcile_earlier_run
    from cyberdesk_core.reattaching import areconcile_earlier_runs as areconcile_earlier_runs
    from cyberdesk_core.reattaching import decide_earlier_run as decide_earlier_run
    from cyberdesk_core.reattaching import describe_batch as describe_batch
    from cyberdesk_core.reattaching import reconcile_earlier_run as reconcile_earlier_run
    from cyberdesk_core.reattaching import reconcile_earlier_runs as reconcile_earlier_runs
    from cyberdesk_core.summaries import BulkSummary as BulkSummary
    from cyberdesk_core.summaries import FailPolicy as FailPolicy
    from cyberdesk_core.summaries import describe_run as describe_run
    from cyberdesk_core.transport import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from cyberdesk_core.transport import RetryPolicy as RetryPolicy
    from cyberdesk_core.waiting import RunWatcher as RunWatcher
    from cyberdesk_core.waiting import await_run as await_run
    from cyberdesk_core.waiting import raise_for_run_status as raise_for_run_status
    from cyberdesk_core.waiting import wait_for_run as wait_for_run

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
    "CancelOutcome": "cyberdesk_core.cancel_active",
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
    "acancel_active_runs": "cyberdesk_core.cancel_active",
    "acancel_if_active": "cyberdesk_core.cancel_active",
    "await_run": "cyberdesk_core.waiting",
    "cancel_active_runs": "cyberdesk_core.cancel_active",
    "cancel_if_active": "cyberdesk_core.cancel_active",
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

_EXPORTS = LazyExports(__name__, _LAZY, eager=["__version__"])
__all__ = _EXPORTS.names
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.listing
