"""A user killing a deferred task (mark failed, clear) cancels its Cyberdesk run: the trigger's
``on_kill`` runs in the real triggerer service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_stack import AirflowStack, poll_until

from cyberdesk_core import CyberdeskClient, derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_long_wait"
TASK_ID = "long_run"
#: Pool of the task (see the DAG file).
POOL = "e2e_cyberdesk_gate"
#: The operator's ``poll_interval`` in the DAG file; cancellation must land within two of them.
POLL_INTERVAL = 2.0
#: Simulated seconds: the run never ends by itself during the test.
FOREVER = 1_000_000


@pytest.fixture(scope="module", autouse=True)
def gate_pool(airflow_api: AirflowApi) -> None:
    """The task's pool, open."""
    airflow_api.set_pool_slots(POOL, 4)


def start_deferred(stack: AirflowStack, api: AirflowApi, workflow_id: str) -> tuple[str, str]:
    """Trigger the DAG and wait until its trigger runs in the triggerer.

    Returns (DAG run id, Cyberdesk run id).
    """
    run_id = api.trigger(DAG_ID, {"workflow_id": workflow_id})
    api.wait_for_states(DAG_ID, run_id, "deferred", timeout=120)
    # Airflow only calls a trigger's on_kill if a triggerer is running it, so the tests act once
    # it has started (the triggerer picks new triggers up about once a second).
    poll_until(
        lambda: any(
            "starting" in text for text in stack.trigger_logs(DAG_ID, run_id, TASK_ID).values()
        ),
        timeout=30,
        what="the triggerer to start the trigger",
    )
    return run_id, str(api.xcom(DAG_ID, run_id, TASK_ID, "run_id"))


def assert_executing(emulator: EmulatorServer, cyberdesk_run_id: str) -> None:
    """The run is executing on a simulated machine."""
    state = emulator.admin.run_state(cyberdesk_run_id)
    assert state["run"]["status"] == "running", state
    assert state["executing"], state


def wait_cancelled(emulator: EmulatorServer, cyberdesk_run_id: str, since: float) -> float:
    """Wait (at most two poll intervals after ``since``) until the emulator shows the run
    cancelled and off its machine; returns the seconds that took."""

    def cancelled() -> bool:
        state = emulator.admin.run_state(cyberdesk_run_id)
        return state["run"]["status"] == "cancelled" and not state["executing"]

    remaining = 2 * POLL_INTERVAL - (time.monotonic() - since)
    poll_until(
        cancelled,
        timeout=max(remaining, 0.0),
        interval=0.05,
        what=f"Cyberdesk run {cyberdesk_run_id} to be cancelled",
    )
    return time.monotonic() - since


def test_marking_a_deferred_task_failed_cancels_its_run(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow("ehr-extract", {"duration": FOREVER})
    run_id, cyberdesk_run_id = start_deferred(airflow_stack, airflow_api, workflow_id)
    assert_executing(e2e_emulator, cyberdesk_run_id)

    marked = time.monotonic()
    airflow_api.set_state(DAG_ID, run_id, TASK_ID, "failed")
    elapsed = wait_cancelled(e2e_emulator, cyberdesk_run_id, marked)
    e2e_metrics["mark_failed_to_cancelled_s"] = round(elapsed, 2)

    assert elapsed <= 2 * POLL_INTERVAL
    assert airflow_api.task_instance(DAG_ID, run_id, TASK_ID)["state"] == "failed"
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=30) == "failed"

    # The trigger's on_kill did it (its log lines reach the file shortly after the request).
    def logged_cancel() -> str | None:
        output = airflow_stack.trigger_output(DAG_ID, run_id, TASK_ID)
        return output if f"Cancelled Cyberdesk run {cyberdesk_run_id}" in output else None

    triggerer_output = poll_until(
        logged_cancel, timeout=15, what="the trigger's on_kill to log the cancellation"
    )
    assert "Trigger cancelled by user action, invoking on_kill" in triggerer_output
    assert "Trigger fired event" not in triggerer_output


def test_clearing_a_deferred_task_cancels_its_run_and_the_rerun_retries_it(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow("ledger-import", {"duration": FOREVER})
    run_id, cyberdesk_run_id = start_deferred(airflow_stack, airflow_api, workflow_id)
    assert_executing(e2e_emulator, cyberdesk_run_id)
    # Executions that start from now on end quickly; the running one keeps its behaviour.
    e2e_emulator.admin.set_workflow_behavior(
        workflow_id,
        {"duration": 40, "output": {"case": "{{ inputs.case }}", "attempt": "after-clear"}},
    )
    # The pool stays open: the re-run may start before the old trigger's on_kill has cancelled
    # the run (Airflow deletes the old trigger only once the scheduler re-scheduled the task).
    # Either it finds the run already cancelled, or it re-attaches and then sees the cancellation
    # it did not make; both end in one runs.retry of the same run.
    cleared_at = time.monotonic()
    cleared = airflow_api.clear(DAG_ID, run_id, [TASK_ID])
    elapsed = wait_cancelled(e2e_emulator, cyberdesk_run_id, cleared_at)
    e2e_metrics["clear_to_cancelled_s"] = round(elapsed, 2)

    assert [ti["task_id"] for ti in cleared] == [TASK_ID]
    assert elapsed <= 2 * POLL_INTERVAL
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=120) == "success"

    # Documented policy: the earlier try's run has ended (cancelled), so the new try re-runs it
    # with runs.retry (same run id, an Idempotency-Key per try) instead of creating a second run.
    ti = airflow_api.task_instance(DAG_ID, run_id, TASK_ID)
    assert ti["state"] == "success"
    assert ti["try_number"] == 2
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID, "run_id") == cyberdesk_run_id
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID) == {"case": run_id, "attempt": "after-clear"}
    assert emulator_client.runs.get(cyberdesk_run_id).status == "success"
    assert emulator_client.runs.list(workflow_id=workflow_id).total == 1
    creates = e2e_emulator.admin.stats()["creates_by_idempotency_key"]
    assert creates[derive_idempotency_key(DAG_ID, run_id, TASK_ID, -1, "run")] == 1
    assert creates[derive_idempotency_key(DAG_ID, run_id, TASK_ID, -1, "retry", 2)] == 1
