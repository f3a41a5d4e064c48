"""`CyberdeskWorkflow`: a `JobBlock` holding a workflow and its run defaults.

Save a workflow with its defaults once, then trigger it from any flow. The methods Prefect's
`JobBlock` / `JobRun` declare are async as declared (`trigger`, `wait_for_completion`,
`fetch_result`), with blocking forms beside them (`trigger_sync`, ...); the others have a
sync form and an `a`-prefixed async form (`run`/`arun`, `cancel`/`acancel`,
`download_attachments`/`adownload_attachments`). Calling `trigger()` and the other async
methods without `await` from sync code still works, with a `DeprecationWarning`.

The run machinery is imported when a method is first called, not with the block: Prefect
imports this module whenever it loads the collection (only the light drivers of `_steps` are
imported with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.blocks.abstract import JobBlock
from prefect.types import SecretDict
from pydantic import Field, model_validator

from cyberdesk_prefect._deprecation import renamed_fields, renamed_method, sync_calls_deprecated
from cyberdesk_prefect._steps import (
    Steps,
    adrive_steps,
    asyncio_method,
    blocking_method,
    drive_steps,
)
from cyberdesk_prefect.credentials import CyberdeskCredentials, block_dispatch_key

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

    from cyberdesk_prefect._run_settings import RunOptions
    from cyberdesk_prefect.job_runs import CyberdeskRun
    from cyberdesk_prefect.results import CyberdeskRunResult

if TYPE_CHECKING:
    _JobBlock = JobBlock[CyberdeskRunResult]
else:
    # A subscripted block class is a new Block subclass that Prefect would register as a
    # block type of its own; type checkers get the precise base, the runtime the plain one.
    _JobBlock = JobBlock


# Deprecated field names -> current ones (the current ones are those of the tasks).
_RENAMED_FIELDS = {
    "poll_interval_seconds": "poll_interval",
    "max_poll_interval_seconds": "max_poll_interval",
    "max_wait_seconds": "timeout",
}


class CyberdeskWorkflow(_JobBlock):
    """A Cyberdesk workflow with its run defaults, triggerable from any flow.

    Attributes:
        credentials: The Cyberdesk credentials block.
        workflow_id: The workflow to run.

    Example:
        Run a saved workflow and wait for its outputs:
        ```python
        from cyberdesk_prefect import CyberdeskWorkflow

        cyberdesk_workflow = CyberdeskWorkflow.load("BLOCK_NAME")
        result = cyberdesk_workflow.run(input_values={"month": "2026-10"})
        print(result.output_data)
        ```
    """

    _block_type_name = "Cyberdesk Workflow"
    _block_type_slug = "cyberdesk-workflow"
    _logo_url = "https://docs.cyberdesk.io/logo/light.png"  # type: ignore[assignment]
    _documentation_url = "https://docs.cyberdesk.io/"  # type: ignore[assignment]
    _description = (
        "A Cyberdesk workflow with default inputs and machine settings; trigger it, wait "
        "for it and fetch its outputs from Prefect flows."
    )

    credentials: CyberdeskCredentials = Field(
        default=..., description="The Cyberdesk credentials used to start and watch runs."
    )
    workflow_id: str = Field(default=..., description="Id of the Cyberdesk workflow to run.")
    input_values: dict[str, Any] = Field(
        default_factory=dict, description="Default workflow inputs, merged under per-call ones."
    )
    sensitive_input_values: SecretDict | None = Field(
        default=None,
        description="Secret inputs for `{$name}` prompt variables, stored encrypted.",
    )
    machine_id: str | None = Field(default=None, description="Pin runs to this machine.")
    pool_ids: list[str] | None = Field(
        default=None, description="Run on a machine belonging to all of these pools."
    )
    is_priority: bool | None = Field(
        default=None, description="Assign runs before non-priority runs."
    )
    main_prompt: str | None = Field(default=None, description="Per-run prompt override.")
    poll_interval: float = Field(
        default=5.0, gt=0, description="Delay between status reads (shared polling), in seconds."
    )
    max_poll_interval: float = Field(
        default=30.0,
        gt=0,
        description="Longest delay between status reads while the API keeps failing, in seconds.",
    )
    timeout: float | None = Field(
        default=None,
        gt=0,
        description="Give up waiting (and cancel the run) after this many seconds.",
    )
    cancel_on_abandon: bool = Field(
        default=True, description="Cancel the run when a wait is abandoned or times out."
    )
    create_artifact: bool = Field(
        default=True,
        description="Create a markdown artifact for each finished run (with its report).",
    )
    live_steps: bool = Field(
        default=True,
        description="Log the agent's new steps while a run is awaited (status changes always).",
    )
    download_to: str | None = Field(
        default=None, description="Local folder to download output files to after success."
    )

    @model_validator(mode="before")
    @classmethod
    def _current_field_names(cls, data: Any) -> Any:
        """Accept the deprecated field names (in code and in blocks saved with them)."""
        return renamed_fields(data, _RENAMED_FIELDS, cls.__name__)

    @classmethod
    def __dispatch_key__(cls) -> str:
        """The block registry key: the block type slug (see `block_dispatch_key`)."""
        return block_dispatch_key(cls)

    def _options(self, sensitive: dict[str, Any] | None, overrides: dict[str, Any]) -> RunOptions:
        from cyberdesk_prefect._run_settings import RunOptions

        inputs = {**self.input_values, **(overrides.pop("input_values", None) or {})}
        fields: dict[str, Any] = {
            "input_values": inputs or None,
            "machine_id": self.machine_id,
            "pool_ids": self.pool_ids,
            "is_priority": self.is_priority,
            "main_prompt": self.main_prompt,
        }
        # The workflow and its secrets come from the block (`sensitive_input_values` is
        # popped by the caller), so they are not per-call options.
        allowed = set(RunOptions.__dataclass_fields__) - {"workflow_id", "sensitive_input_values"}
        unknown = set(overrides) - allowed
        if unknown:
            raise TypeError(f"Unknown run options: {', '.join(sorted(unknown))}.")
        fields.update({k: v for k, v in overrides.items() if v is not None})
        return RunOptions(
            workflow_id=self.workflow_id, sensitive_input_values=sensitive, **fields
        ).normalized()

    def _trigger(self, overrides: dict[str, Any]) -> Steps[CyberdeskRun]:
        from cyberdesk_prefect._idempotency import task_idempotency_key
        from cyberdesk_prefect._run_steps import create_run
        from cyberdesk_prefect._secrets import plaintext, sensitive
        from cyberdesk_prefect.job_runs import CyberdeskRun
        from cyberdesk_prefect.observability import RunReporter

        overrides = renamed_fields(
            overrides, {"sensitive_inputs": "sensitive_input_values"}, "CyberdeskWorkflow.trigger"
        )
        secret = overrides.pop("sensitive_input_values", None) or self.sensitive_input_values
        options = self._options((yield sensitive(secret)), overrides)
        run = yield from create_run(
            options,
            idempotency_key=task_idempotency_key("job-block"),
            explicit_key=False,
            credentials=self.credentials,
            reporter=RunReporter(),
            cancel_on_abandon=self.cancel_on_abandon,
        )
        return CyberdeskRun(
            self,
            run.id,
            self.credentials.run_url(run.id),
            secrets=plaintext(options.sensitive_input_values),
        )

    @sync_calls_deprecated("trigger_sync")
    async def trigger(self, **overrides: Any) -> CyberdeskRun:
        """Create a run of the workflow and return a `CyberdeskRun` handle.

        Async, as Prefect's `JobBlock` declares it; `trigger_sync` is the blocking form.

        Args:
            **overrides: Any create option of `trigger_cyberdesk_run` (`input_values`,
                `file_inputs`, `session_id`, `start_session`, `session_alias`, ...);
                `sensitive_input_values` replaces the block's (`sensitive_inputs` is its
                deprecated name).
        """
        return await adrive_steps(self.credentials, self._trigger(overrides))

    def trigger_sync(self, **overrides: Any) -> CyberdeskRun:
        """Blocking form of `trigger` (same options and result)."""
        return drive_steps(self.credentials, self._trigger(overrides))

    atrigger = renamed_method("atrigger", trigger)

    def _run(
        self,
        /,
        *,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
        **overrides: Any,
    ) -> Steps[CyberdeskRunResult]:
        """Trigger, wait and fetch in one call (`run` blocks, `arun` is its async form).

        Args:
            raise_on_failure: Raise when the run did not succeed.
            download_to: Local folder for the output files (default: the block's).
            filesystem: A `WritableFileSystem` block to write the output files to instead.
            folder: Folder inside `filesystem`.
            **overrides: Create options, as for `trigger`.
        """
        job_run = yield from self._trigger(overrides)
        return (yield from job_run._completion(raise_on_failure, download_to, filesystem, folder))

    run = blocking_method("run", _run)
    arun = asyncio_method("arun", _run)
