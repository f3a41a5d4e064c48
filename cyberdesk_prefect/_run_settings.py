"""The settings of one run: how to create it, how to wait for it, what to do once it ended.

Task parameters, the `CyberdeskWorkflow` block's fields and `_params` build these; the run steps
(`_run_steps`, `_run_wait`, `_batch_wait`) read them. Secrets stay wrapped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cyberdesk_core.inputs import normalize_file_inputs, validate_timeouts

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem


@dataclass(frozen=True)
class RunOptions:
    """Everything needed to create (or re-execute) one run; secrets stay wrapped."""

    workflow_id: str
    input_values: Mapping[str, Any] | None = None
    sensitive_input_values: Mapping[str, Any] | None = field(default=None, repr=False)
    file_inputs: Sequence[Any] | None = None
    machine_id: str | None = None
    pool_ids: Sequence[str] | None = None
    session_id: str | None = None
    start_session: bool | None = None
    session_alias: str | None = None
    release_session_after: bool | None = None
    is_priority: bool | None = None
    main_prompt: str | None = None
    model_metadata: Mapping[str, Any] | None = None
    #: Execute an earlier try's succeeded run again (never done on an automatic retry).
    rerun_succeeded: bool = False

    def normalized(self) -> RunOptions:
        """Validate file inputs early (paths/bytes -> FileInput) so errors name the field."""
        return replace(self, file_inputs=normalize_file_inputs(self.file_inputs))

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.runs.create` (minus `workflow_id`)."""
        return {
            "input_values": self.input_values,
            "sensitive_input_values": self.sensitive_input_values,
            "file_inputs": self.file_inputs,
            "machine_id": self.machine_id,
            "pool_ids": self.pool_ids,
            "session_id": self.session_id,
            "start_session": self.start_session,
            "session_alias": self.session_alias,
            "release_session_after": self.release_session_after,
            "is_priority": self.is_priority,
            "main_prompt": self.main_prompt,
            "model_metadata": self.model_metadata,
        }

    def retry_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `client.runs.retry` when re-executing an ended run.

        Secrets are re-sent (Cyberdesk deletes them when a run ends); input files are kept on
        the run, so they are not uploaded again. A run that started its own session starts a
        fresh one, since the old session may have been released.
        """
        return {
            "input_values": self.input_values,
            "sensitive_input_values": self.sensitive_input_values,
            "machine_id": self.machine_id,
            "pool_ids": self.pool_ids,
            "start_session": True if self.start_session else None,
            "session_alias": self.session_alias if self.start_session else None,
            "release_session_after": self.release_session_after,
            "is_priority": self.is_priority,
        }


@dataclass(frozen=True)
class WaitSettings:
    """How to wait for a run."""

    poll_interval: float = 5.0
    max_poll_interval: float = 30.0
    timeout: float | None = None
    cancel_on_abandon: bool = True
    #: Log the agent's new steps while the run goes on (status changes are always logged).
    live_steps: bool = True

    def __post_init__(self) -> None:
        # Errors name the task parameters, which have the same names as these fields.
        validate_timeouts(
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class FinishSettings:
    """What to do once a run ended."""

    raise_on_failure: bool = True
    download_to: str | Path | None = None
    filesystem: WritableFileSystem | None = None
    filesystem_folder: str = ""
    create_artifact: bool = True
