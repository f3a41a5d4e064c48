"""`CyberdeskRun`: the `JobRun` handle returned by `CyberdeskWorkflow.trigger()`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect.blocks.abstract import JobRun
from prefect.filesystems import WritableFileSystem

from cyberdesk_core import acancel_if_active, cancel_if_active
from cyberdesk_prefect._downloads import adownload_attachments, download_attachments
from cyberdesk_prefect._engine import (
    FinishSettings,
    WaitSettings,
    afinish_run,
    finish_run,
    result_of,
)
from cyberdesk_prefect._waits import await_run_end, wait_run
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

    def _wait_settings(self) -> WaitSettings:
        w = self.workflow
        return WaitSettings(
            w.poll_interval_seconds,
            w.max_poll_interval_seconds,
            w.max_wait_seconds,
            w.cancel_on_abandon,
        )

    def _finish_settings(
        self,
        raise_on_failure: bool,
        download_to: str | Path | None,
        filesystem: WritableFileSystem | None,
        folder: str,
    ) -> FinishSettings:
        w = self.workflow
        return FinishSettings(
            raise_on_failure, download_to or w.download_to, filesystem, folder, w.create_artifact
        )

    def wait_for_completion(  # type: ignore[override]
        self,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> CyberdeskRunResult:
        """Wait until the run ends, then fetch its outputs; cancel it if the wait is abandoned.

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
        credentials = self.workflow.credentials
        run = wait_run(credentials, self.run_id, self._wait_settings(), self._reporter)
        settings = self._finish_settings(raise_on_failure, download_to, filesystem, folder)
        self._result = finish_run(credentials, run, settings)
        return self._result

    async def await_for_completion(
        self,
        raise_on_failure: bool = True,
        download_to: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> CyberdeskRunResult:
        """Async form of `wait_for_completion`."""
        credentials = self.workflow.credentials
        run = await await_run_end(credentials, self.run_id, self._wait_settings(), self._reporter)
        settings = self._finish_settings(raise_on_failure, download_to, filesystem, folder)
        self._result = await afinish_run(credentials, run, settings)
        return self._result

    def fetch_result(self) -> CyberdeskRunResult:  # type: ignore[override]
        """The run's result: the waited-for one, or the run as it is now."""
        if self._result is not None:
            return self._result
        with self.workflow.credentials.get_client() as client:
            return result_of(client, client.runs.get(self.run_id))

    async def afetch_result(self) -> CyberdeskRunResult:
        """Async form of `fetch_result`."""
        if self._result is not None:
            return self._result
        async with self.workflow.credentials.get_async_client() as client:
            return result_of(client, await client.runs.get(self.run_id))

    def cancel(self) -> CyberdeskRunResult:
        """Cancel the run if it has not ended."""
        with self.workflow.credentials.get_client() as client:
            return result_of(client, cancel_if_active(client, self.run_id).run)

    async def acancel(self) -> CyberdeskRunResult:
        """Async form of `cancel`."""
        async with self.workflow.credentials.get_async_client() as client:
            return result_of(client, (await acancel_if_active(client, self.run_id)).run)

    def download_attachments(
        self,
        destination: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> list[CyberdeskAttachmentInfo]:
        """Download the run's output files to a local folder or a filesystem block."""
        with self.workflow.credentials.get_client() as client:
            return download_attachments(
                client, self.run_id, destination=destination, filesystem=filesystem, folder=folder
            )

    async def adownload_attachments(
        self,
        destination: str | Path | None = None,
        filesystem: WritableFileSystem | None = None,
        folder: str = "",
    ) -> list[CyberdeskAttachmentInfo]:
        """Async form of `download_attachments`."""
        async with self.workflow.credentials.get_async_client() as client:
            return await adownload_attachments(
                client, self.run_id, destination=destination, filesystem=filesystem, folder=folder
            )
