"""Marking failed and clearing a deferred task through the REST API cancel its Cyberdesk run
within two poll intervals, on whichever of the two triggerers its trigger runs.

Each DAG run has one task pinned to each triggerer (``[triggerer] queues``), so both triggerers'
``on_kill`` paths are exercised in every test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import pytest
from airflow_api import AirflowApi
from airflow_stack import poll_until
from dist_airflow_stack import DistributedAirflowStack
from test_e2e_airflow_cancellation import POLL_INTERVAL, assert_executing, wait_cancelled

from cyberdesk_core import derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
pytest_plugins = ["dist_airflow_plugin"]

DAG_ID = "dist_cyberdesk_pinned_waits"
#: Task id -> the triggerer its queue pins it to (see the DAG file and ``PINNED_QUEUES``).
TASKS = {"hold_a": "triggerer-a", "hold_b": "triggerer-b"}
FOREVER = 1_000_000


def start_pinned(
    stack: DistributedAirflowStack, api: AirflowApi, workflow_id: str
) -> tuple[str, dict[str, str]]:
    """Trigger the DAG; wait until both triggers run, each in its own triggerer.

    Returns the DAG run id and ``{task_id: Cyberdesk run id}``.
    """
    run_id = api.trigger(DAG_ID, {"workflow_id": workflow_id})
    api.wait_for_states(DAG_ID, run_id, "deferred", count=len(TASKS), timeout=180)
    # on_kill runs only for a trigger a triggerer is running: act once both have started.
    for task_id in TASKS:

        def started(task_id: str = task_id) -> bool:
            logs = stack.trigger_logs(DAG_ID, run_id, task_id).values()
            return any("starting" in text for text in logs)

        poll_until(started, timeout=60, what=f"the trigger of {task_id} to start")
    held = stack.trigger_holders(DAG_ID, run_id)
    holders = {task: stack.holder_name(job) for (task, _), job in held.items()}
    assert holders == TASKS, holders
    return run_id, {task: str(api.xcom(DAG_ID, run_id, task, "run_id")) for task in TASKS}


def test_marking_deferred_tasks_failed_cancels_their_runs_on_either_triggerer(
    airflow_stack: DistributedAirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow("ehr-extract", {"duration": FOREVER})
    run_id, cyberdesk_runs = start_pinned(airflow_stack, airflow_api, workflow_id)

    for task_id, triggerer in TASKS.items():
        assert_executing(e2e_emulator, cyberdesk_runs[task_id])
        marked = time.monotonic()
        airflow_api.set_state(DAG_ID, run_id, task_id, "failed")
        elapsed = wait_cancelled(e2e_emulator, cyberdesk_runs[task_id], marked)
        e2e_metrics[f"mark_failed_to_cancelled_{triggerer}_s"] = round(elapsed, 2)
        assert elapsed <= 2 * POLL_INTERVAL
        assert airflow_api.task_instance(DAG_ID, run_id, task_id)["state"] == "failed"
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=60) == "failed"


def test_clearing_deferred_tasks_cancels_their_runs_on_either_triggerer(
    airflow_stack: DistributedAirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow("ledger-import", {"duration": FOREVER})
    run_id, cyberdesk_runs = start_pinned(airflow_stack, airflow_api, workflow_id)
    # Executions that start from now on end quickly; the running ones keep their behaviour.
    e2e_emulator.admin.set_workflow_behavior(
        workflow_id, {"duration": 20, "output": {"queue": "{{ inputs.queue }}", "after": "clear"}}
    )

    for task_id, triggerer in TASKS.items():
        assert_executing(e2e_emulator, cyberdesk_runs[task_id])
        cleared_at = time.monotonic()
        cleared = airflow_api.clear(DAG_ID, run_id, [task_id])
        elapsed = wait_cancelled(e2e_emulator, cyberdesk_runs[task_id], cleared_at)
        e2e_metrics[f"clear_to_cancelled_{triggerer}_s"] = round(elapsed, 2)
        assert [ti["task_id"] for ti in cleared] == [task_id]
        assert elapsed <= 2 * POLL_INTERVAL
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=180) == "success"

    # The new tries re-ran the cancelled runs with runs.retry (same run ids), created none.
    creates = e2e_emulator.admin.stats()["creates_by_idempotency_key"]
    for task_id, queue in (("hold_a", "pinned_a"), ("hold_b", "pinned_b")):
        ti = airflow_api.task_instance(DAG_ID, run_id, task_id)
        assert (ti["state"], ti["try_number"]) == ("success", 2)
        assert airflow_api.xcom(DAG_ID, run_id, task_id, "run_id") == cyberdesk_runs[task_id]
        assert airflow_api.xcom(DAG_ID, run_id, task_id) == {"queue": queue, "after": "clear"}
        assert creates[derive_idempotency_key(DAG_ID, run_id, task_id, -1, "run")] == 1
        assert creates[derive_idempotency_key(DAG_ID, run_id, task_id, -1, "retry", 2)] == 1
