"""`CyberdeskRun`: the `JobRun` handle returned by `CyberdeskWorkflow.trigger()`.

`wait_for_completion` and `fetch_result` are async, as Prefect's `JobRun` declares them, so
generic Prefect code can await them; `wait_for_completion_sync` and `fetch_result_sync` are
their blocking forms. Each pair shares one body written as steps (`_steps`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.blocks.abstract import JobRun
from prefect.filesystems import WritableFileSystem

from cyberdesk_core import acancel_if_active, cancel_if_active
from cyberdesk_prefect._deprecation import renamed_method, sync_calls_deprecated
from cyberdesk_prefect._downloads import download_attachments
from cyberdesk_prefect._run_settings import FinishSettings, WaitSettings
from cyberdesk_prefect._run_steps import finish_run, result_of
from cyberdesk_prefect._run_wait import wait_for_run
from cyberdesk_prefect._steps import (
    Steps,
    adrive_steps,
    asyncio_method,
    asyncio_method_of_any_result,
    blocking_method,
    call,
    drive_steps,
)
from cyberdesk_prefect.observability import RunReporter
from cyberdesk_prefect.results import CyberdeskAttachmentInfo, CyberdeskRunResult

if TYPE_CHECKING:
    from cyberdesk_prefect.credentials import CyberdeskCredentials
    from cyberdesk_prefect.workflows import CyberdeskWorkflow


class CyberdeskRun(JobRun[CyberdeskRunResult]):
    """A Cyberdesk run started by `CyberdeskWorkflow.trigger()` (not a block)."""

    def __init__(
        self, workflow: CyberdeskWorkflow, run_id: str, run_url: str, *, secrets: Any = ()
    ) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.run_url = run_url
        # The plaintext sensitive values the run was started with: masked in its log lines
        # and report, never shown (not in the repr).
        self._secrets = secrets
        self._reporter = RunReporter()
        self._result: CyberdeskRunResult | None = None

    def __repr__(self) -> str:
        return f"CyberdeskRun(run_id={self.run_id!r})"

    @property
    def credentials(self) -> CyberdeskCredentials:
        """The credentials of the workflow block that started the run."""
        return self.workflow.credentials

    def _completion(
        self,
        /,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> Steps[CyberdeskRunResult]:
        """Wait until the run ends, then fetch its outputs; cancel it if the wait is abandoned.

        Args:
            raise_on_failure: Raise when the run did not succeed.
            download_to: Local folder for the output files (default: the block's).
            filesystem: A `WritableFileSystem` block to write the output files to instead.
            folder: Folder inside `filesystem`.

        Returns:
            The `CyberdeskRunResult` (the async form is typed `Any` only because Prefect
            declares `JobRun.wait_for_completion` `-> Logger`; `fetch_result()` is typed).

        Raises:
            RunFailedError / RunCancelledError: The run did not succeed (unless
                `raise_on_failure=False`).
            RunTimeoutError: The workflow's `timeout` passed.
        """
        w = self.workflow
        waiting = WaitSettings(
            w.poll_interval,
            w.max_poll_interval,
            w.timeout,
            w.cancel_on_abandon,
            w.live_steps,
        )
        finishing = FinishSettings(
            raise_on_failure, download_to or w.download_to, filesystem, folder, w.create_artifact
        )
        run = yield from wait_for_run(
            w.credentials, self.run_id, waiting, self._reporter, secrets=self._secrets
        )
        self._result = yield from finish_run(w.credentials, run, finishing, secrets=self._secrets)
        return self._result

    wait_for_completion = sync_calls_deprecated("wait_for_completion_sync")(
        asyncio_method_of_any_result("wait_for_completion", _completion)
    )
    wait_for_completion_sync = blocking_method("wait_for_completion_sync", _completion)

    def _fetch(self) -> Steps[CyberdeskRunResult]:
        if self._result is not None:
            return self._result
        run_id = self.run_id
        run = yield call(lambda c: c.runs.get(run_id), lambda c: c.runs.get(run_id))
        return result_of(self.workflow.credentials, run)

    @sync_calls_deprecated("fetch_result_sync")
    async def fetch_result(self) -> CyberdeskRunResult:
        """The run's result: the waited-for one, or the run as it is now."""
        return await adrive_steps(self.workflow.credentials, self._fetch())

    def fetch_result_sync(self) -> CyberdeskRunResult:
        """Blocking form of `fetch_result`."""
        return drive_steps(self.workflow.credentials, self._fetch())

    def _cancel(self) -> Steps[CyberdeskRunResult]:
        """Cancel the run if it has not ended."""
        run_id = self.run_id
        outcome = yield call(
            lambda c: cancel_if_active(c, run_id), lambda c: acancel_if_active(c, run_id)
        )
        return result_of(self.workflow.credentials, outcome.run)

    cancel = blocking_method("cancel", _cancel)
    acancel = asyncio_method("acancel", _cancel)

    def _download_attachments(
        self,
        destination: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> Steps[list[CyberdeskAttachmentInfo]]:
        """Download the run's output files to a local folder or a filesystem block."""
        return download_attachments(
            self.run_id, destination=destination, filesystem=filesystem, folder=folder
        )

    download_attachments = blocking_method("download_attachments", _download_attachments)
    adownload_attachments = asyncio_method("adownload_attachments", _download_attachments)
    await_for_completion = renamed_method("await_for_completion", wait_for_completion)
    afetch_result = renamed_method("afetch_result", fetch_result)
