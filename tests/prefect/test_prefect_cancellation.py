"""Cancelling a Prefect flow run cancels the Cyberdesk runs it started.

Unit level: the hook reads the run ids recorded as flow-run labels and cancels the runs that
are still active. End to end: a served flow run is cancelled through the Prefect API (state
CANCELLING); the emulator then shows its Cyberdesk run cancelled, once through the task's
`finally` (TerminationSignal) and once through the `on_cancellation` hook alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from prefect import flow, get_client
from prefect.client.schemas.objects import FlowRun
from prefect_seed import POLL, WF_OK, WF_SLOW

from cyberdesk_prefect import (
    CyberdeskCredentials,
    cancel_cyberdesk_runs_hook,
    trigger_cyberdesk_run,
)
from cyberdesk_prefect.cancellation import (
    cancel_cyberdesk_runs_on_cancellation,
    cancel_recorded_runs,
    recorded_run_ids,
)
from cyberdesk_prefect.results import CyberdeskRunResult


def _flow_run(flow_run_id: UUID) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def _state_type_name(flow_run_id: UUID) -> str:
    state_type = _flow_run(flow_run_id).state_type
    assert state_type is not None  # a flow run read back from the API always has a state
    return state_type.value


def _start_slow_runs(credentials: CyberdeskCredentials, count: int = 2) -> FlowRun:
    @flow
    def start() -> list[CyberdeskRunResult]:
        return [trigger_cyberdesk_run(credentials, WF_SLOW) for _ in range(count)]

    state = start(return_state=True)
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return _flow_run(flow_run_id)


def test_labels_record_the_runs_and_the_saved_block(
    saved_credentials: CyberdeskCredentials,
) -> None:
    flow_run = _start_slow_runs(saved_credentials)
    assert len(recorded_run_ids(flow_run.labels)) == 2
    assert flow_run.labels["cyberdesk.credentials"] == "emulator-credentials"
    assert flow_run.labels["cyberdesk.base_url"] == saved_credentials.base_url
    assert not any(
        saved_credentials.api_key.get_secret_value() in str(v) for v in flow_run.labels.values()
    )


def test_hook_cancels_active_runs_with_the_saved_block(
    saved_credentials: CyberdeskCredentials, admin: Any
) -> None:
    flow_run = _start_slow_runs(saved_credentials)
    run_ids = recorded_run_ids(flow_run.labels)
    cancel_cyberdesk_runs_on_cancellation(None, flow_run, None)  # type: ignore[arg-type]
    assert {admin.run_state(r)["run"]["status"] for r in run_ids} == {"cancelled"}
    # A second call finds nothing left to cancel.
    assert cancel_recorded_runs(flow_run) == []


def test_hook_factory_uses_explicit_credentials(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    flow_run = _start_slow_runs(credentials, count=1)
    assert "cyberdesk.credentials" not in flow_run.labels  # the block was never saved
    hook = cancel_cyberdesk_runs_hook(credentials)
    hook(None, flow_run, None)  # type: ignore[arg-type]
    (run_id,) = recorded_run_ids(flow_run.labels)
    assert admin.run_state(run_id)["run"]["status"] == "cancelled"


def test_hook_falls_back_to_environment_variables(
    credentials: CyberdeskCredentials, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_run = _start_slow_runs(credentials, count=1)
    monkeypatch.setenv("CYBERDESK_API_KEY", credentials.api_key.get_secret_value())
    assert cancel_recorded_runs(flow_run) == recorded_run_ids(flow_run.labels)


def test_hook_leaves_ended_runs_alone(credentials: CyberdeskCredentials, admin: Any) -> None:
    from cyberdesk_prefect import run_cyberdesk_workflow

    @flow
    def finished() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_OK, input_values={"month": "x"}, **POLL)

    state = finished(return_state=True)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    flow_run = _flow_run(flow_run_id)
    assert cancel_recorded_runs(flow_run, credentials) == []


SERVED_FLOWS = """
from prefect import flow, serve
from cyberdesk_prefect import (
    CyberdeskCredentials,
    cancel_cyberdesk_runs_on_cancellation,
    run_cyberdesk_workflow,
)


def _run(cancel_on_abandon):
    credentials = CyberdeskCredentials.load("emulator-credentials")
    return run_cyberdesk_workflow(
        credentials,
        "{workflow_id}",
        poll_interval=0.2,
        max_poll_interval=0.5,
        cancel_on_abandon=cancel_on_abandon,
    )


@flow(on_cancellation=[cancel_cyberdesk_runs_on_cancellation])
def finally_cancels():
    return _run(True)


@flow(on_cancellation=[cancel_cyberdesk_runs_on_cancellation])
def hook_cancels():
    return _run(False)


if __name__ == "__main__":
    serve(
        finally_cancels.to_deployment(name="served"),
        hook_cancels.to_deployment(name="served"),
        print_starting_message=False,
    )
"""


@pytest.fixture
def served_flows(saved_credentials: CyberdeskCredentials, tmp_path: Path) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL

    script = tmp_path / "served_flows.py"
    script.write_text(textwrap.dedent(SERVED_FLOWS).format(workflow_id=WF_SLOW))
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_cancelling_a_served_flow_run_cancels_the_cyberdesk_run(
    served_flows: None, admin: Any, tmp_path: Path
) -> None:
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    def deployment_ready() -> bool:
        with get_client(sync_client=True) as client:
            try:
                client.read_deployment_by_name("hook-cancels/served")
                client.read_deployment_by_name("finally-cancels/served")
            except Exception:
                return False
        return True

    _eventually(deployment_ready, 60, "the served deployments")
    runs = {
        # `run_deployment` is sync/async dual (value or coroutine); called outside an event loop
        # it returns the flow run.
        name: cast(FlowRun, run_deployment(f"{name}/served", timeout=0, as_subflow=False))
        for name in ("finally-cancels", "hook-cancels")
    }

    def cyberdesk_ids() -> dict[str, str] | None:
        found = {name: recorded_run_ids(_flow_run(r.id).labels) for name, r in runs.items()}
        if all(found.values()):
            return {name: ids[0] for name, ids in found.items()}
        return None

    remote = _eventually(cyberdesk_ids, 90, "the Cyberdesk runs to be recorded")
    assert {admin.run_state(r)["run"]["status"] for r in remote.values()} <= {
        "scheduling",
        "running",
    }
    with get_client(sync_client=True) as client:
        for flow_run in runs.values():
            client.set_flow_run_state(flow_run.id, Cancelling(), force=True)

    def all_cancelled() -> bool:
        return all(admin.run_state(r)["run"]["status"] == "cancelled" for r in remote.values())

    log = tmp_path / "serve.log"
    try:
        _eventually(all_cancelled, 60, "the Cyberdesk runs to be cancelled")
    except AssertionError:
        raise AssertionError(log.read_text()[-4000:]) from None

    def flow_runs_cancelled() -> bool:
        return all(_state_type_name(r.id) == "CANCELLED" for r in runs.values())

    _eventually(flow_runs_cancelled, 30, "the flow runs to be CANCELLED")
    text = log.read_text()
    assert "cancel_cyberdesk_runs_on_cancellation" in text
    assert "because its wait was abandoned" in text  # the finally in finally-cancels
    assert "because the flow run was cancelled" in text  # the hook in hook-cancels
