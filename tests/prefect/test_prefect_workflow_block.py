"""`CyberdeskWorkflow` (JobBlock) and `CyberdeskRun` (JobRun), sync and async."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from prefect import flow, task
from prefect.filesystems import LocalFileSystem
from prefect.types import SecretDict
from prefect_seed import WF_DOUBLE, WF_ERROR, WF_OK, WF_SLOW, no_retry_credentials

from cyberdesk_core import RunFailedError, RunTimeoutError
from cyberdesk_prefect import CyberdeskCredentials, CyberdeskWorkflow
from cyberdesk_prefect.results import CyberdeskRunResult


@pytest.fixture
def workflow_block(credentials: CyberdeskCredentials) -> CyberdeskWorkflow:
    credentials.save("block-creds", overwrite=True)
    CyberdeskWorkflow(
        credentials=CyberdeskCredentials.load("block-creds"),
        workflow_id=WF_OK,
        input_values={"month": "2026-01"},
        sensitive_input_values=SecretDict({"password": "p4ss"}),
        poll_interval=0.1,
        max_poll_interval=0.3,
    ).save("monthly-report", overwrite=True)
    # `load` is sync/async dual (value or coroutine); called outside an event loop it is the block.
    return cast(CyberdeskWorkflow, CyberdeskWorkflow.load("monthly-report"))


def test_trigger_wait_fetch(
    workflow_block: CyberdeskWorkflow, core_client: Any, download_dir: Path
) -> None:
    @flow
    def report() -> CyberdeskRunResult:
        job_run = workflow_block.trigger_sync(input_values={"month": "2026-02"})
        assert job_run.fetch_result_sync().run_id == job_run.run_id  # live read before the wait
        job_run.wait_for_completion_sync(download_to=download_dir)
        return job_run.fetch_result_sync()

    result = report()
    assert result.output_data == {"month": "2026-02", "total": 42}
    assert (download_dir / "tb_2026-02.csv").exists()
    run = core_client.runs.get(result.run_id)
    assert set(run.sensitive_input_aliases or {}) == {"password"}


async def test_atrigger_await_afetch(workflow_block: CyberdeskWorkflow, tmp_path: Path) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path))

    @flow
    async def report() -> CyberdeskRunResult:
        job_run = await workflow_block.trigger()
        await job_run.wait_for_completion(filesystem=storage, folder="out")
        return await job_run.fetch_result()

    result = await report()
    assert result.output_data == {"month": "2026-01", "total": 42}
    assert (tmp_path / "out" / "tb_2026-01.csv").exists()


def test_run_and_download_outside_a_flow(
    credentials: CyberdeskCredentials, download_dir: Path
) -> None:
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_OK, poll_interval=0.1)
    job_run = block.trigger_sync(input_values={"month": "2026-03"})
    result = job_run.wait_for_completion_sync()
    assert result.attachments[0].filename == "tb_2026-03.csv"
    infos = job_run.download_attachments(download_dir)
    assert [Path(i.local_path or "").name for i in infos] == ["tb_2026-03.csv"]


async def test_arun_and_adownload(credentials: CyberdeskCredentials, download_dir: Path) -> None:
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_DOUBLE, poll_interval=0.1)
    result = await block.arun(input_values={"value": 9})
    assert str((result.output_data or {})["value"]) == "9"


def test_cancel_and_acancel(credentials: CyberdeskCredentials, admin: Any) -> None:
    import asyncio

    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_SLOW, poll_interval=0.1)
    first = block.trigger_sync()
    assert first.cancel().status == "cancelled"
    second = block.trigger_sync()
    assert asyncio.run(second.acancel()).status == "cancelled"
    assert admin.run_state(second.run_id)["run"]["status"] == "cancelled"


def test_failed_run_raises_and_timeout_cancels(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    failing = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_ERROR, poll_interval=0.1)
    with pytest.raises(RunFailedError, match="ERP unreachable"):
        failing.run()
    assert failing.run(raise_on_failure=False).status == "error"

    slow = CyberdeskWorkflow(
        credentials=credentials,
        workflow_id=WF_SLOW,
        poll_interval=0.1,
        timeout=0.5,
    )
    job_run = slow.trigger_sync()
    with pytest.raises(RunTimeoutError):
        job_run.wait_for_completion_sync()
    assert admin.run_state(job_run.run_id)["run"]["status"] == "cancelled"


def test_trigger_inside_a_retried_task_reattaches(
    emulator: Any, admin: Any, no_faults: None
) -> None:
    credentials = no_retry_credentials(emulator)
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_DOUBLE, poll_interval=0.1)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "500", "phase": "after", "times": 1}]}
    )
    before = admin.stats()["runs_created"]

    @task(retries=1, retry_delay_seconds=0)
    def run_block() -> CyberdeskRunResult:
        return block.run(input_values={"value": 1})

    @flow
    def wrapper() -> CyberdeskRunResult:
        return run_block()

    assert wrapper().status == "success"
    assert admin.stats()["runs_created"] - before == 1


def test_unknown_override_is_refused(credentials: CyberdeskCredentials) -> None:
    block = CyberdeskWorkflow(credentials=credentials, workflow_id=WF_OK)
    with pytest.raises(TypeError, match="machine_idd"):
        block.trigger_sync(machine_idd="x")


def test_thin_flow_keeps_secrets_out_of_parameters(
    saved_credentials: CyberdeskCredentials, core_client: Any
) -> None:
    from prefect import get_client
    from prefect.blocks.system import Secret

    from cyberdesk_prefect import run_cyberdesk_workflow_flow

    Secret(value={"password": "flow-secret-value"}).save("flow-login", overwrite=True)
    state = run_cyberdesk_workflow_flow(
        saved_credentials,
        WF_OK,
        input_values={"month": "2026-04"},
        sensitive_input_values="flow-login",
        poll_interval=0.1,
        return_state=True,
    )
    result = state.result()
    assert result.output_data == {"month": "2026-04", "total": 42}
    assert set(core_client.runs.get(result.run_id).sensitive_input_aliases or {}) == {"password"}
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
    rendered = str(stored.parameters)
    assert "flow-secret-value" not in rendered
    assert saved_credentials.api_key.get_secret_value() not in rendered


async def test_async_thin_flow(credentials: CyberdeskCredentials) -> None:
    from cyberdesk_prefect import arun_cyberdesk_workflow_flow

    result = await arun_cyberdesk_workflow_flow(
        credentials, WF_DOUBLE, input_values={"value": 11}, poll_interval=0.1
    )
    assert str((result.output_data or {})["value"]) == "11"
