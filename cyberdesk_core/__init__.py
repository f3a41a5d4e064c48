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
    from cyberdesk_core.errors import AttachmentNotFoundError as AttachmentNotFoundError
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
    from cyberdesk_core.history import HistoryBlock as HistoryBlock
    from cyberdesk_core.history import HistoryItem as HistoryItem
    from cyberdesk_core.history import ImageSignedUrl as ImageSignedUrl
    from cyberdesk_core.history import Trajectory as Trajectory
    from cyberdesk_core.history import parse_history as parse_history
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
    from cyberdesk_core.narrator import RunNarrator as RunNarrator
    from cyberdesk_core.reattaching import EarlierRunAction as EarlierRunAction
    from cyberdesk_core.reattaching import Reconciled as Reconciled
    from cyberdesk_core.reattaching import areconcile_earlier_run as areconcile_earlier_run
    from cyberdesk_core.reattaching import areconcile_earlier_runs as areconcile_earlier_runs
    from cyberdesk_core.reattaching import decide_earlier_run as decide_earlier_run
    from cyberdesk_core.reattaching import describe_batch as describe_batch
    from cyberdesk_core.reattaching import reconcile_earlier_run as reconcile_earlier_run
    from cyberdesk_core.reattaching import reconcile_earlier_runs as reconcile_earlier_runs
    from cyberdesk_core.report_building import abuild_run_report as abuild_run_report
    from cyberdesk_core.report_building import build_run_report as build_run_report
    from cyberdesk_core.run_names import RunNames as RunNames
    from cyberdesk_core.run_report import AttachmentRef as AttachmentRef
    from cyberdesk_core.run_report import RunReport as RunReport
    from cyberdesk_core.run_report import ScreenshotLink as ScreenshotLink
    from cyberdesk_core.run_report import sum_report_usage as sum_report_usage
    from cyberdesk_core.signed_urls import SignedAttachmentUrl as SignedAttachmentUrl
    from cyberdesk_core.signed_urls import asign_attachment as asign_attachment
    from cyberdesk_core.signed_urls import asign_run_attachments as asign_run_attachments
    from cyberdesk_core.signed_urls import sign_attachment as sign_attachment
    from cyberdesk_core.signed_urls import sign_run_attachments as sign_run_attachments
    from cyberdesk_core.step_progress import PROGRESS_FIELDS as PROGRESS_FIELDS
    from cyberdesk_core.step_progress import history_due as history_due
    from cyberdesk_core.step_progress import run_progressed as run_progressed
    from cyberdesk_core.steps_text import SecretMask as SecretMask
    from cyberdesk_core.steps_text import render_agent_steps as render_agent_steps
    from cyberdesk_core.steps_text import render_steps as render_steps
    from cyberdesk_core.steps_text import run_agent_steps as run_agent_steps
    from cyberdesk_core.steps_text import run_step_lines as run_step_lines
    from cyberdesk_core.summaries import BulkSummary as BulkSummary
    from cyberdesk_core.summaries import FailPolicy as FailPolicy
    from cyberdesk_core.summaries import describe_run as describe_run
    from cyberdesk_core.transport import DEFAULT_BASE_URL as DEFAULT_BASE_URL
    from cyberdesk_core.transport import RetryPolicy as RetryPolicy
    from cyberdesk_core.usage import RunLlmCosts as RunLlmCosts
    from cyberdesk_core.usage import RunUsage as RunUsage
    from cyberdesk_core.usage import UsageAggregate as UsageAggregate
    from cyberdesk_core.usage import UsageMode as UsageMode
    from cyberdesk_core.usage import sum_usage as sum_usage
    from cyberdesk_core.waiting import RunWatcher as RunWatcher
    from cyberdesk_core.waiting import await_run as await_run
    from cyberdesk_core.waiting import raise_for_run_status as raise_for_run_status
    from cyberdesk_core.waiting import wait_for_run as wait_for_run

from cyberdesk_core._version import __version__ as __version__

_LAZY: dict[str, str] = {
    "HistoryBlock": "cyberdesk_core.history",
    "HistoryItem": "cyberdesk_core.history",
    "ImageSignedUrl": "cyberdesk_core.history",
    "Trajectory": "cyberdesk_core.history",
    "parse_history": "cyberdesk_core.history",
    "RunLlmCosts": "cyberdesk_core.usage",
    "RunUsage": "cyberdesk_core.usage",
    "UsageAggregate": "cyberdesk_core.usage",
    "UsageMode": "cyberdesk_core.usage",
    "sum_usage": "cyberdesk_core.usage",
    "SecretMask": "cyberdesk_core.steps_text",
    "render_steps": "cyberdesk_core.steps_text",
    "render_agent_steps": "cyberdesk_core.steps_text",
    "run_agent_steps": "cyberdesk_core.steps_text",
    "run_step_lines": "cyberdesk_core.steps_text",
    "PROGRESS_FIELDS": "cyberdesk_core.step_progress",
    "history_due": "cyberdesk_core.step_progress",
    "run_progressed": "cyberdesk_core.step_progress",
    "RunNarrator": "cyberdesk_core.narrator",
    "RunNames": "cyberdesk_core.run_names",
    "AttachmentRef": "cyberdesk_core.run_report",
    "RunReport": "cyberdesk_core.run_report",
    "ScreenshotLink": "cyberdesk_core.run_report",
    "sum_report_usage": "cyberdesk_core.run_report",
    "abuild_run_report": "cyberdesk_core.report_building",
    "build_run_report": "cyberdesk_core.report_building",
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
    "AttachmentNotFoundError": "cyberdesk_core.errors",
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
    "SignedAttachmentUrl": "cyberdesk_core.signed_urls",
    "TERMINAL_STATUSES": "cyberdesk_core.models",
    "ValidationError": "cyberdesk_core.errors",
    "Workflow": "cyberdesk_core.models",
    "acancel_active_runs": "cyberdesk_core.cancel_active",
    "acancel_if_active": "cyberdesk_core.cancel_active",
    "asign_attachment": "cyberdesk_core.signed_urls",
    "asign_run_attachments": "cyberdesk_core.signed_urls",
    "await_run": "cyberdesk_core.waiting",
    "cancel_active_runs": "cyberdesk_core.cancel_active",
    "cancel_if_active": "cyberdesk_core.cancel_active",
    "derive_idempotency_key": "cyberdesk_core.idempotency",
    "describe_run": "cyberdesk_core.summaries",
    "is_transient": "cyberdesk_core.errors",
    "new_idempotency_key": "cyberdesk_core.idempotency",
    "normalize_file_inputs": "cyberdesk_core.inputs",
    "raise_for_run_status": "cyberdesk_core.waiting",
    "sign_attachment": "cyberdesk_core.signed_urls",
    "sign_run_attachments": "cyberdesk_core.signed_urls",
    "validate_input_values": "cyberdesk_core.inputs",
    "validate_timeouts": "cyberdesk_core.inputs",
    "wait_for_run": "cyberdesk_core.waiting",
}

_EXPORTS = LazyExports(__name__, _LAZY, eager=["__version__"])
__all__ = _EXPORTS.names
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.listing
