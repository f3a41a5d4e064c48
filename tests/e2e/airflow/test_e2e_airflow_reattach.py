"""The re-attach rule in real Airflow services (scheduler, triggerer, LocalExecutor): an automatic
retry after a failed download reuses the succeeded run; a person's clear runs it again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_stack import AirflowStack

from cyberdesk_core import CyberdeskClient, derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_reattach"
TASK_ID = "post_journal"
RETRY_ROUTE = "POST /v1/runs/{run_id}/retry"


def _retries(emulator: EmulatorServer) -> int:
    return int(emulator.admin.stats()["requests_by_route"].get(RETRY_ROUTE, 0))


def test_retry_reuses_a_succeeded_run_and_a_clear_runs_it_again(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
    tmp_path: Path,
) -> None:
    workflow_id = make_workflow(
        "journal-post",
        {
            "duration": 20,
            "output": {"case": "{{ inputs.case }}", "attempt": "first"},
            "files": [{"name": "journal.csv", "content": "posted"}],
        },
    )
    retries_before = _retries(e2e_emulator)
    # Every download of the first try answers 500 (more than the hook's 3 HTTP retries).
    e2e_emulator.admin.set_faults(
        {"rules": [{"route": "GET /v1/run-attachments/*/download", "kind": "500", "times": 4}]}
    )
    try:
        run_id = airflow_api.trigger(
            DAG_ID, {"workflow_id": workflow_id, "download_to": f"file://{tmp_path}"}
        )
        assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=180) == "success"
    finally:
        e2e_emulator.admin.set_faults({"rules": []})

    # Automatic retry: the run had succeeded, so try 2 reused it and only downloaded again.
    ti = airflow_api.task_instance(DAG_ID, run_id, TASK_ID)
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    runs = emulator_client.runs.list(workflow_id=workflow_id).items
    assert len(runs) == 1
    cyberdesk_run_id = runs[0].id
    assert _retries(e2e_emulator) == retries_before
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID) == {"case": run_id, "attempt": "first"}
    assert (tmp_path / "journal.csv").read_text() == "posted"

    # A person clears the task: a deliberate "run it again", which Airflow 3.3 tells apart by
    # the task instance's max_tries (recorded in the task state store by the earlier try).
    e2e_emulator.admin.set_workflow_behavior(
        workflow_id,
        {"duration": 20, "output": {"case": "{{ inputs.case }}", "attempt": "after-clear"}},
    )
    airflow_api.clear(DAG_ID, run_id, [TASK_ID])
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=180) == "success"
    ti = airflow_api.task_instance(DAG_ID, run_id, TASK_ID)
    assert (ti["state"], ti["try_number"]) == ("success", 3)
    assert _retries(e2e_emulator) == retries_before + 1
    assert emulator_client.runs.list(workflow_id=workflow_id).total == 1
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID, "run_id") == cyberdesk_run_id
    assert airflow_api.xcom(DAG_ID, run_id, TASK_ID) == {"case": run_id, "attempt": "after-clear"}
    creates = e2e_emulator.admin.stats()["creates_by_idempotency_key"]
    assert creates[derive_idempotency_key(DAG_ID, run_id, TASK_ID, -1, "run")] == 1
    assert creates[derive_idempotency_key(DAG_ID, run_id, TASK_ID, -1, "retry", 3)] == 1
