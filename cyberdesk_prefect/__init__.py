"""Prefect integration for Cyberdesk: run computer-use workflows as Prefect tasks and blocks.

Blocks: `CyberdeskCredentials`, `CyberdeskWorkflow` (a `JobBlock`).
Tasks (sync, and async with an `a` prefix): `trigger_cyberdesk_run`, `get_cyberdesk_run`,
`wait_for_cyberdesk_run` (async: `await_cyberdesk_run`), `run_cyberdesk_workflow`,
`cancel_cyberdesk_run`, `retry_cyberdesk_run`, `bulk_create_cyberdesk_runs`,
`wait_for_cyberdesk_runs` (async: `await_cyberdesk_runs`), `run_cyberdesk_chain`,
`download_cyberdesk_attachments`, `get_cyberdesk_attachment_url` (signed download URLs). The
earlier names `await_for_cyberdesk_run(s)` still work, with a `DeprecationWarning`.
Flows: `run_cyberdesk_workflow_flow`, `arun_cyberdesk_workflow_flow`.
Hooks: `cancel_cyberdesk_runs_on_cancellation`, `cancel_cyberdesk_runs_hook`.

Importing the package defines the two blocks (Prefect's collection loader needs them
registered) and nothing else; tasks, flows and hooks load on first access, so
`import cyberdesk_prefect` stays cheap for processes that never run them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from cyberdesk_core._lazy import LazyExports
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.workflows import CyberdeskWorkflow

if TYPE_CHECKING:
    from cyberdesk_prefect.attachments import (
        adownload_cyberdesk_attachments,
        aget_cyberdesk_attachment_url,
        download_cyberdesk_attachments,
        get_cyberdesk_attachment_url,
    )
    from cyberdesk_prefect.bulk import (
        abulk_create_cyberdesk_runs,
        await_cyberdesk_runs,
        bulk_create_cyberdesk_runs,
        wait_for_cyberdesk_runs,
    )
    from cyberdesk_prefect.cancellation import (
        cancel_cyberdesk_runs_hook,
        cancel_cyberdesk_runs_on_cancellation,
    )
    from cyberdesk_prefect.chains import (
        arun_cyberdesk_chain,
        run_cyberdesk_chain,
    )
    from cyberdesk_prefect.flows import (
        arun_cyberdesk_workflow_flow,
        run_cyberdesk_workflow_flow,
    )
    from cyberdesk_prefect.job_runs import CyberdeskRun
    from cyberdesk_prefect.results import (
        CyberdeskAttachmentInfo,
        CyberdeskBulkResult,
        CyberdeskChainResult,
        CyberdeskRunResult,
    )
    from cyberdesk_prefect.run_workflow import (
        arun_cyberdesk_workflow,
        await_cyberdesk_run,
        run_cyberdesk_workflow,
        wait_for_cyberdesk_run,
    )
    from cyberdesk_prefect.runs import (
        acancel_cyberdesk_run,
        aget_cyberdesk_run,
        aretry_cyberdesk_run,
        atrigger_cyberdesk_run,
        cancel_cyberdesk_run,
        get_cyberdesk_run,
        retry_cyberdesk_run,
        trigger_cyberdesk_run,
    )

_LAZY: dict[str, str] = {
    "CyberdeskRun": "cyberdesk_prefect.job_runs",
    "CyberdeskAttachmentInfo": "cyberdesk_prefect.results",
    "CyberdeskBulkResult": "cyberdesk_prefect.results",
    "CyberdeskChainResult": "cyberdesk_prefect.results",
    "CyberdeskRunResult": "cyberdesk_prefect.results",
    "adownload_cyberdesk_attachments": "cyberdesk_prefect.attachments",
    "download_cyberdesk_attachments": "cyberdesk_prefect.attachments",
    "aget_cyberdesk_attachment_url": "cyberdesk_prefect.attachments",
    "get_cyberdesk_attachment_url": "cyberdesk_prefect.attachments",
    "abulk_create_cyberdesk_runs": "cyberdesk_prefect.bulk",
    "await_cyberdesk_runs": "cyberdesk_prefect.bulk",
    "bulk_create_cyberdesk_runs": "cyberdesk_prefect.bulk",
    "wait_for_cyberdesk_runs": "cyberdesk_prefect.bulk",
    "cancel_cyberdesk_runs_hook": "cyberdesk_prefect.cancellation",
    "cancel_cyberdesk_runs_on_cancellation": "cyberdesk_prefect.cancellation",
    "arun_cyberdesk_chain": "cyberdesk_prefect.chains",
    "run_cyberdesk_chain": "cyberdesk_prefect.chains",
    "arun_cyberdesk_workflow_flow": "cyberdesk_prefect.flows",
    "run_cyberdesk_workflow_flow": "cyberdesk_prefect.flows",
    "arun_cyberdesk_workflow": "cyberdesk_prefect.run_workflow",
    "await_cyberdesk_run": "cyberdesk_prefect.run_workflow",
    "run_cyberdesk_workflow": "cyberdesk_prefect.run_workflow",
    "wait_for_cyberdesk_run": "cyberdesk_prefect.run_workflow",
    "acancel_cyberdesk_run": "cyberdesk_prefect.runs",
    "aget_cyberdesk_run": "cyberdesk_prefect.runs",
    "aretry_cyberdesk_run": "cyberdesk_prefect.runs",
    "atrigger_cyberdesk_run": "cyberdesk_prefect.runs",
    "cancel_cyberdesk_run": "cyberdesk_prefect.runs",
    "get_cyberdesk_run": "cyberdesk_prefect.runs",
    "retry_cyberdesk_run": "cyberdesk_prefect.runs",
    "trigger_cyberdesk_run": "cyberdesk_prefect.runs",
}


# __all__ stays a literal list (not _EXPORTS.names) so linters see the re-exports; a test checks
# that it, the TYPE_CHECKING imports and _LAZY agree.
_EXPORTS = LazyExports(__name__, _LAZY, eager=["CyberdeskCredentials", "CyberdeskWorkflow"])
__dir__ = _EXPORTS.listing

# Earlier names, kept as aliases that warn.
_RENAMED: dict[str, str] = {
    "await_for_cyberdesk_run": "await_cyberdesk_run",
    "await_for_cyberdesk_runs": "await_cyberdesk_runs",
}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        warnings.warn(
            f"cyberdesk_prefect.{name} is deprecated and will be removed in a future release; "
            f"use {_RENAMED[name]} instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return _EXPORTS.load(_RENAMED[name])
    return _EXPORTS.load(name)


__all__ = [
    "CyberdeskAttachmentInfo",
    "CyberdeskBulkResult",
    "CyberdeskChainResult",
    "CyberdeskCredentials",
    "CyberdeskRun",
    "CyberdeskRunResult",
    "CyberdeskWorkflow",
    "abulk_create_cyberdesk_runs",
    "acancel_cyberdesk_run",
    "adownload_cyberdesk_attachments",
    "aget_cyberdesk_attachment_url",
    "aget_cyberdesk_run",
    "aretry_cyberdesk_run",
    "arun_cyberdesk_chain",
    "arun_cyberdesk_workflow",
    "arun_cyberdesk_workflow_flow",
    "atrigger_cyberdesk_run",
    "await_cyberdesk_run",
    "await_cyberdesk_runs",
    "bulk_create_cyberdesk_runs",
    "cancel_cyberdesk_run",
    "cancel_cyberdesk_runs_hook",
    "cancel_cyberdesk_runs_on_cancellation",
    "download_cyberdesk_attachments",
    "get_cyberdesk_attachment_url",
    "get_cyberdesk_run",
    "retry_cyberdesk_run",
    "run_cyberdesk_chain",
    "run_cyberdesk_workflow",
    "run_cyberdesk_workflow_flow",
    "trigger_cyberdesk_run",
    "wait_for_cyberdesk_run",
    "wait_for_cyberdesk_runs",
]
