"""A Celery worker killed with SIGKILL while a task waits in it (not deferred): the scheduler
fails the silent try, the retry runs on a worker and re-attaches to the same Cyberdesk run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import pytest
from airflow_api import AirflowApi
from airflow_stack import poll_until
from dist_airflow_stack import WORKERS, DistributedAirflowStack

from cyberdesk_core import CyberdeskClient, derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
pytest_plugins = ["dist_airflow_plugin"]

DAG_ID = "dist_cyberdesk_worker_wait"
TASK_ID = "close_books"
RETRY_ROUTE = "POST /v1/runs/{run_id}/retry"
#: Simulated seconds: the run ends only when the test finishes it.
FOREVER = 1_000_000


def test_killed_worker_retry_reattaches_to_the_same_run(
    airflow_stack: DistributedAirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow(
        "close-books", {"duration": FOREVER, "output": {"case": "{{ inputs.case }}"}}
    )
    retries_before = e2e_emulator.admin.stats()["requests_by_route"].get(RETRY_ROUTE, 0)
    run_id = airflow_api.trigger(DAG_ID, {"workflow_id": workflow_id})

    # Try 1 created the run and waits for it inside a worker's task process.
    def waiting() -> dict[str, Any] | None:
        ti = airflow_api.task_instance(DAG_ID, run_id, TASK_ID)
        if ti["state"] != "running" or not ti.get("pid"):
            return None
        runs = emulator_client.runs.list(workflow_id=workflow_id).items
        return ti if runs and runs[0].status == "running" else None

    ti = poll_until(waiting, timeout=180, what="try 1 to wait for its run in a worker")
    assert ti["try_number"] == 1
    (run,) = emulator_client.runs.list(workflow_id=workflow_id).items
    worker = airflow_stack.service_holding(int(ti["pid"]))
    assert worker in WORKERS, (ti["pid"], worker)

    killed_at = time.monotonic()
    killed = airflow_stack.crash(worker)
    try:
        assert len(killed) >= 3, "worker, its pool process, the task supervisor and task"
        # Nobody cancelled the run: a dead worker runs no on_kill.
        assert emulator_client.runs.get(run.id).status == "running"

        # The scheduler fails the try whose heartbeat stopped, and the retry starts elsewhere.
        def retrying() -> bool:
            current = airflow_api.task_instance(DAG_ID, run_id, TASK_ID)
            return bool(current["try_number"] == 2 and current["state"] == "running")

        poll_until(retrying, timeout=180, interval=0.5, what="try 2 to run")
        e2e_metrics["worker_kill_to_retry_running_s"] = round(time.monotonic() - killed_at, 1)
    finally:
        # Later tests expect two workers again.
        airflow_stack.start_worker(worker)

    e2e_emulator.admin.finish_run(run.id)
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=180) == "success"

    tries = airflow_api.tries(DAG_ID, run_id, TASK_ID)
    assert [(t["try_number"], t["state"]) for t in tries] == [(1, "failed"), (2, "success")]
    # One run, created once; try 2 re-attached to it (no runs.retry, no second create).
    assert emulator_client.runs.list(workflow_id=workflow_id).total == 1
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID, "run_id") == run.id
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID) == {"case": run_id}
    creates = e2e_emulator.admin.stats()["creates_by_idempotency_key"]
    assert creates[derive_idempotency_key(DAG_ID, run_id, TASK_ID, -1, "run")] == 1
    assert e2e_emulator.admin.stats()["requests_by_route"].get(RETRY_ROUTE, 0) == retries_before
    try_2_log = airflow_stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    logged = (try_2_log / f"task_id={TASK_ID}" / "attempt=2.log").read_text()
    assert f"Re-attached to Cyberdesk run {run.id} from an earlier try" in logged
