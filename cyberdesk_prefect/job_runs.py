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
from cyberdesk_prefect._steps import Steps, adrive_steps, call, drive_steps
from cyberdesk_prefect.observability import RunReporter
from cyberdesk_prefect.results import CyberdeskAttachmentInfo, CyberdeskRunResult

if TYPE_CHECKING:
    from cyberdesk_prefect.workflows import CyberdeskWorkflow


class CyberdeskRun(JobRun[CyberdeskRunResult]):
    """A Cyberdesk run started by `CyberdeskWorkflow.trigger()` (not a block)."""

    def __init__(self, workflow: CyberdeskWorkflow, run_id: str, run_url: str) -> None:
        self.workflow = workflow
        self.run_id = run_id
        self.run_url = run_url
        self._reporter = RunReporter()
        self._result: CyberdeskRunResult | None = None

    def __repr__(self) -> str:
        return f"CyberdeskRun(run_id={self.run_id!r})"

    def _wait(
        self,
        raise_on_failure: bool,
        download_to: str | Path | None,
        filesystem: WritableFileSystem | None,
        folder: str,
    ) -> Steps[CyberdeskRunResult]:
        w = self.workflow
        waiting = WaitSettings(
            w.poll_interval_seconds,
            w.max_poll_interval_seconds,
            w.max_wait_seconds,
            w.cancel_on_abandon,
        )
        finishing = FinishSettings(
            raise_on_failure, download_to or w.download_to, filesystem, folder, w.create_artifact
        )
        run = yield from wait_for_run(w.credentials, self.run_id, waiting, self._reporter)
        self._result = yield from finish_run(w.credentials, run, finishing)
        return self._result

    @sync_calls_deprecated("wait_for_completion_sync")
    async def wait_for_completion(
        self,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> Any:
        """Wait until the run ends, then fetch its outputs; cancel it if the wait is abandoned.

        Returns the `CyberdeskRunResult` (typed `Any` only because Prefect declares this
        method `-> Logger`; `fetch_result()` and `wait_for_completion_sync()` are typed).

        Args:
            raise_on_failure: Raise when the run did not succeed.
            download_to: Local folder for the output files (default: the block's).
            filesystem: A `WritableFileSystem` block to write the output files to instead.
            folder: Folder inside `filesystem`.

        Raises:
            RunFailedError / RunCancelledError: The run did not succeed (unless
                `raise_on_failure=False`).
            RunTimeoutError: The workflow's `max_wait_seconds` passed.
        """
        steps = self._wait(raise_on_failure, download_to, filesystem, folder)
        return await adrive_steps(self.workflow.credentials, steps)

    def wait_for_completion_sync(
        self,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> CyberdeskRunResult:
        """Blocking form of `wait_for_completion` (same parameters and result)."""
        steps = self._wait(raise_on_failure, download_to, filesystem, folder)
        return drive_steps(self.workflow.credentials, steps)

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
        run_id = self.run_id
        outcome = yield call(
            lambda c: cancel_if_active(c, run_id), lambda c: acancel_if_active(c, run_id)
        )
        return result_of(self.workflow.credentials, outcome.run)

    def cancel(self) -> CyberdeskRunResult:
        """Cancel the run if it has not ended."""
        return drive_steps(self.workflow.credentials, self._cancel())

    async def acancel(self) -> CyberdeskRunResult:
        """Async form of `cancel`."""
        return await adrive_steps(self.workflow.credentials, self._cancel())

    def download_attachments(
        self,
        destination: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> list[CyberdeskAttachmentInfo]:
        """Download the run's output files to a local folder or a filesystem block."""
        steps = download_attachments(
            self.run_id, destination=destination, filesystem=filesystem, folder=folder
        )
        return drive_steps(self.workflow.credentials, steps)

    async def adownload_attachments(
        self,
        destination: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> list[CyberdeskAttachmentInfo]:
        """Async form of `download_attachments`."""
        steps = download_attachments(
            self.run_id, destination=destination, filesystem=filesystem, folder=folder
        )
        return await adrive_steps(self.workflow.credentials, steps)

    await_for_completion = renamed_method("await_for_completion", "wait_for_completion")
    afetch_result = renamed_method("afetch_result", "fetch_result")
