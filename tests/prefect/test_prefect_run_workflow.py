"""`run_cyberdesk_workflow` end to end: outputs, files, failures, timeouts."""

from __future__ import annotations

import logging
from typing import Any
from uuid import uuid4

import pytest
from prefect import flow
from prefect.filesystems import LocalFileSystem
from prefect_flow_runs import artifact_markdown, labels_of
from prefect_seed import (
    POLL,
    WF_ERROR,
    WF_OK,
    WF_SLOW,
    WF_TASK_FAILED,
)

from cyberdesk_core import RunCancelledError, RunFailedError, RunTimeoutError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    arun_cyberdesk_workflow,
    run_cyberdesk_workflow,
    trigger_cyberdesk_run,
    wait_for_cyberdesk_run,
)
from cyberdesk_prefect.cancellation import recorded_run_ids
from cyberdesk_prefect.results import CyberdeskRunResult


def test_run_workflow_returns_outputs_files_artifact_and_labels(
    credentials: CyberdeskCredentials, download_dir: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    @flow
    def monthly_report() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(
            credentials,
            WF_OK,
            input_values={"month": "2026-10"},
            download_to=str(download_dir),
            **POLL,
        )

    state = monthly_report(return_state=True)
    result = state.result()
    assert result.status == "success"
    assert result.output_data == {"month": "2026-10", "total": 42}
    assert result.duration_seconds is not None
    assert result.downloaded_paths == [str(download_dir / "tb_2026-10.csv")]
    assert (download_dir / "tb_2026-10.csv").read_bytes() == b"account,amount\n1000,42\n"
    assert recorded_run_ids(labels_of(state)) == [result.run_id]
    markdown = artifact_markdown(result.run_id)
    assert "**success**" in markdown
    assert "tb_2026-10.csv" in markdown
    assert credentials.api_key.get_secret_value() not in result.model_dump_json()
    assert credentials.api_key.get_secret_value() not in caplog.text
    assert f"Cyberdesk run {result.run_id} created" in caplog.text
    assert caplog.text.count(result.run_url) == 1  # the dashboard URL is logged once


async def test_arun_workflow_writes_files_to_a_filesystem_block(
    credentials: CyberdeskCredentials, tmp_path: Any
) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path / "bucket"))

    @flow
    async def monthly_report() -> CyberdeskRunResult:
        return await arun_cyberdesk_workflow(
            credentials,
            WF_OK,
            input_values={"month": "2026-11"},
            filesystem=storage,
            filesystem_folder="reports/2026-11",
            **POLL,
        )

    result = await monthly_report()
    assert result.output_data == {"month": "2026-11", "total": 42}
    written = tmp_path / "bucket" / "reports" / "2026-11" / "tb_2026-11.csv"
    assert written.read_bytes() == b"account,amount\n1000,42\n"
    assert result.attachments[0].local_path == str(written)
    assert "**success**" in artifact_markdown(result.run_id)


def test_sync_task_writes_files_to_a_filesystem_block(
    credentials: CyberdeskCredentials, tmp_path: Any
) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path / "bucket"))

    @flow
    def monthly_report() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(
            credentials, WF_OK, input_values={"month": "2026-12"}, filesystem=storage, **POLL
        )

    result = monthly_report()
    assert (tmp_path / "bucket" / "tb_2026-12.csv").exists()
    assert result.downloaded_paths == [str(tmp_path / "bucket" / "tb_2026-12.csv")]


@pytest.mark.parametrize(
    ("workflow_id", "error", "status", "message"),
    [
        (WF_ERROR, RunFailedError, "error", "ERP unreachable"),
        (WF_TASK_FAILED, RunFailedError, "task_failed", "No invoices"),
    ],
)
def test_failed_runs_raise(
    credentials: CyberdeskCredentials,
    workflow_id: str,
    error: type[Exception],
    status: str,
    message: str,
) -> None:
    @flow
    def failing() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, workflow_id, **POLL)

    with pytest.raises(error, match=message) as info:
        failing()
    assert str(info.value.run.status) == status  # type: ignore[attr-defined]
    assert f"**{status}**" in artifact_markdown(info.value.run.id)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("workflow_id", "status"), [(WF_ERROR, RunFailedError), (WF_TASK_FAILED, RunFailedError)]
)
async def test_failed_runs_raise_async(
    credentials: CyberdeskCredentials, workflow_id: str, status: type[Exception]
) -> None:
    @flow
    async def failing() -> CyberdeskRunResult:
        return await arun_cyberdesk_workflow(credentials, workflow_id, **POLL)

    with pytest.raises(status):
        await failing()


def test_cancelled_run_raises_run_cancelled_error(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    @flow
    def cancelled_elsewhere() -> CyberdeskRunResult:
        started = trigger_cyberdesk_run(credentials, WF_SLOW)
        core_client.runs.cancel(started.run_id)
        return wait_for_cyberdesk_run(credentials, started.run_id, **POLL)

    with pytest.raises(RunCancelledError):
        cancelled_elsewhere()


def test_raise_on_failure_false_returns_the_status(credentials: CyberdeskCredentials) -> None:
    @flow
    def tolerant() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_ERROR, raise_on_failure=False, **POLL)

    result = tolerant()
    assert result.status == "error"
    assert result.error == ["ERP unreachable"]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_max_wait_seconds_times_out_and_cancels_the_run(
    credentials: CyberdeskCredentials, admin: Any, use_async: bool
) -> None:
    @flow
    def sync_wait() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_SLOW, timeout=0.5, **POLL)

    @flow
    async def async_wait() -> CyberdeskRunResult:
        return await arun_cyberdesk_workflow(credentials, WF_SLOW, timeout=0.5, **POLL)

    state = await async_wait(return_state=True) if use_async else sync_wait(return_state=True)
    assert state.is_failed()
    with pytest.raises(RunTimeoutError):
        await state.aresult()
    (run_id,) = recorded_run_ids(labels_of(state))
    assert admin.run_state(run_id)["run"]["status"] == "cancelled"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_task_timeout_cancels_the_remote_run(
    credentials: CyberdeskCredentials, core_client: Any, use_async: bool
) -> None:
    sync_task = run_cyberdesk_workflow.with_options(timeout_seconds=3)
    async_task = arun_cyberdesk_workflow.with_options(timeout_seconds=3)
    marker = {"case": f"timeout-{use_async}-{uuid4()}"}

    @flow
    def sync_flow() -> CyberdeskRunResult:
        return sync_task(credentials, WF_SLOW, input_values=marker, **POLL)

    @flow
    async def async_flow() -> CyberdeskRunResult:
        return await async_task(credentials, WF_SLOW, input_values=marker, **POLL)

    state = await async_flow(return_state=True) if use_async else sync_flow(return_state=True)
    assert state.is_failed()
    # Found through the emulator, so the check holds even if the timeout struck before the
    # run id was recorded on the flow run.
    (run,) = core_client.runs.list(workflow_id=WF_SLOW, search=marker["case"]).items
    assert str(run.status) == "cancelled"
