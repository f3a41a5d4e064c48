"""`run_cyberdesk_workflow` end to end: outputs, files, failures, retries, timeouts, map."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

import pytest
from prefect import flow, get_client, unmapped
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import State
from prefect.filesystems import LocalFileSystem
from prefect_seed import (
    POLL,
    WF_DOUBLE,
    WF_ERROR,
    WF_FLIP,
    WF_OK,
    WF_SLOW,
    WF_TASK_FAILED,
    no_retry_credentials,
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


def _labels_of(state: State[Any]) -> dict[str, Any]:
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return dict(client.read_flow_run(flow_run_id).labels)


def _artifact_markdown(run_id: str) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"cyberdesk-run-{run_id}"]))
        )
    assert artifacts, f"no artifact for run {run_id}"
    return str(artifacts[0].data)


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
    assert recorded_run_ids(_labels_of(state)) == [result.run_id]
    markdown = _artifact_markdown(result.run_id)
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
    assert "**success**" in _artifact_markdown(result.run_id)


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
    assert f"**{status}**" in _artifact_markdown(info.value.run.id)  # type: ignore[attr-defined]


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
        return run_cyberdesk_workflow(credentials, WF_SLOW, max_wait_seconds=0.5, **POLL)

    @flow
    async def async_wait() -> CyberdeskRunResult:
        return await arun_cyberdesk_workflow(credentials, WF_SLOW, max_wait_seconds=0.5, **POLL)

    state = await async_wait(return_state=True) if use_async else sync_wait(return_state=True)
    assert state.is_failed()
    with pytest.raises(RunTimeoutError):
        await state.aresult()
    (run_id,) = recorded_run_ids(_labels_of(state))
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


def test_task_retry_reattaches_instead_of_creating_a_second_run(
    emulator: Any, admin: Any, no_faults: None
) -> None:
    """The create succeeds but its response is lost; the retried task finds the same run."""
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "500", "phase": "after", "times": 1}]}
    )
    before = admin.stats()
    retried = run_cyberdesk_workflow.with_options(retries=2, retry_delay_seconds=0)

    @flow
    def flaky() -> CyberdeskRunResult:
        return retried(credentials, WF_DOUBLE, input_values={"value": 5}, **POLL)

    result = flaky()
    after = admin.stats()
    assert result.status == "success"
    assert after["runs_created"] - before["runs_created"] == 1
    new_keys = {
        k: v
        for k, v in after["creates_by_idempotency_key"].items()
        if k not in before["creates_by_idempotency_key"]
    }
    assert list(new_keys.values()) == [1]
    assert after["idempotent_replays"] - before["idempotent_replays"] >= 1


async def test_async_task_retry_reattaches(emulator: Any, admin: Any, no_faults: None) -> None:
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "502", "phase": "after", "times": 1}]}
    )
    before = admin.stats()["runs_created"]
    retried = arun_cyberdesk_workflow.with_options(retries=1, retry_delay_seconds=0)

    @flow
    async def flaky() -> CyberdeskRunResult:
        return await retried(credentials, WF_DOUBLE, input_values={"value": 6}, **POLL)

    assert (await flaky()).status == "success"
    assert admin.stats()["runs_created"] - before == 1


def test_retry_after_a_failed_run_reexecutes_the_same_run(
    credentials: CyberdeskCredentials, admin: Any, restore_behaviors: None
) -> None:
    """A Prefect retry of a run that ended in `error` re-runs it (same id), once per try."""
    admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "outcome": "error"})

    def fix_the_workflow(task: Any, task_run: Any, state: State[Any]) -> bool:
        admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "output": {"fixed": True}})
        return True

    retried = run_cyberdesk_workflow.with_options(
        retries=1, retry_delay_seconds=0, retry_condition_fn=fix_the_workflow
    )
    before = admin.stats()

    @flow
    def flip() -> CyberdeskRunResult:
        return retried(credentials, WF_FLIP, **POLL)

    result = flip()
    after = admin.stats()
    assert result.status == "success"
    assert result.output_data == {"fixed": True}
    assert after["runs_created"] - before["runs_created"] == 1
    route = "POST /v1/runs/{run_id}/retry"
    assert after["requests_by_route"].get(route, 0) - before["requests_by_route"].get(route, 0) == 1


def test_map_over_twenty_inputs(credentials: CyberdeskCredentials, admin: Any) -> None:
    before = admin.stats()["runs_created"]

    @flow
    def fan_out() -> list[CyberdeskRunResult]:
        futures = run_cyberdesk_workflow.map(
            unmapped(credentials),
            WF_DOUBLE,
            input_values=[{"value": i} for i in range(20)],
            create_artifact=False,
            poll_interval_seconds=unmapped(POLL["poll_interval_seconds"]),
            max_poll_interval_seconds=unmapped(POLL["max_poll_interval_seconds"]),
        )
        return [f.result() for f in futures]

    state = fan_out(return_state=True)
    results = state.result()
    assert sorted(recorded_run_ids(_labels_of(state))) == sorted(r.run_id for r in results)
    assert [str(r.output_data["value"]) for r in results if r.output_data] == [
        str(i) for i in range(20)
    ]
    assert len({r.run_id for r in results}) == 20
    assert admin.stats()["runs_created"] - before == 20


def test_concurrency_limit_caps_runs_in_flight(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        existing = {limit.name for limit in client.read_global_concurrency_limits()}
        if "cyberdesk-test" not in existing:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="cyberdesk-test", limit=2)
            )

    @flow
    def throttled() -> list[CyberdeskRunResult]:
        futures = run_cyberdesk_workflow.map(
            unmapped(credentials),
            WF_OK,
            input_values=[{"month": f"2026-0{i}"} for i in range(1, 6)],
            concurrency_limit_name=unmapped("cyberdesk-test"),
            create_artifact=False,
            poll_interval_seconds=unmapped(POLL["poll_interval_seconds"]),
            max_poll_interval_seconds=unmapped(POLL["max_poll_interval_seconds"]),
        )
        return [f.result() for f in futures]

    results = throttled()
    runs = [core_client.runs.get(r.run_id) for r in results]
    events = sorted(
        [(r.created_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    assert peak <= 2


def test_missing_concurrency_limit_is_an_error(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    before = admin.stats()["runs_created"]

    @flow
    def throttled() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(
            credentials, WF_OK, concurrency_limit_name="no-such-limit", **POLL
        )

    with pytest.raises(Exception, match="no-such-limit"):
        throttled()
    assert admin.stats()["runs_created"] == before


def test_status_changes_become_prefect_events(
    credentials: CyberdeskCredentials, asserting_events_worker: Any, reset_worker_events: None
) -> None:
    @flow
    def report() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_OK, input_values={"month": "2026-01"}, **POLL)

    result = report()
    asserting_events_worker.drain()
    events = [
        e
        for e in asserting_events_worker._client.events
        if e.event.startswith("cyberdesk.run.")
        and e.resource.id == f"cyberdesk.run.{result.run_id}"
    ]
    names = [e.event for e in events]
    assert names[0] == "cyberdesk.run.scheduling"
    assert names[-1] == "cyberdesk.run.success"
    assert len(names) == len(set(names))  # one event per status change, not per poll
    related = {r.id for r in events[-1].related}
    assert f"cyberdesk.workflow.{WF_OK}" in related
    assert UUID(str(result.run_id))
