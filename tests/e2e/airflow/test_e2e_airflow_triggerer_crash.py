"""A triggerer killed with SIGKILL while 20 mapped tasks are deferred: a new triggerer takes the
triggers over, every task finishes, and no Cyberdesk run is created twice or cancelled."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow_api import AirflowApi
from airflow_stack import MAPPED_TRIGGER_LOG, AirflowStack, poll_until

from cyberdesk_core import CyberdeskClient, derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_mapped"
TASK_ID = "extract_patient"
COUNT = 20


def trigger_jobs(stack: AirflowStack, run_id: str, needle: str) -> dict[int, set[int]]:
    """``{map_index: {triggerer job ids whose trigger log for it contains needle}}``."""
    return stack.trigger_jobs(DAG_ID, run_id, TASK_ID, needle)


def all_mapped(found: dict[int, set[int]]) -> dict[int, set[int]] | None:
    """``found`` once it covers every map index."""
    return found if len(found) == COUNT else None


def test_triggerer_crash_loses_no_task_and_duplicates_no_run(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
    e2e_metrics: dict[str, float],
) -> None:
    workflow_id = make_workflow(
        "patient-extract",
        {"duration": 1_000_000, "output": {"patient": "{{ inputs.patient }}", "pages": 3}},
    )
    started = time.monotonic()
    run_id = airflow_api.trigger(DAG_ID, {"workflow_id": workflow_id})
    airflow_api.wait_for_states(DAG_ID, run_id, "deferred", count=COUNT, timeout=180, interval=1)
    e2e_metrics["mapped_20_deferred_s"] = round(time.monotonic() - started, 1)
    # Every trigger is running in the first triggerer before it dies.
    first = poll_until(
        lambda: all_mapped(trigger_jobs(airflow_stack, run_id, "starting")),
        timeout=30,
        what="the first triggerer to start all 20 triggers",
    )
    first_jobs = set().union(*first.values())
    cyberdesk_runs = {
        index: str(airflow_api.xcom(DAG_ID, run_id, TASK_ID, "run_id", map_index=index))
        for index in range(COUNT)
    }
    assert len(set(cyberdesk_runs.values())) == COUNT

    killed = airflow_stack.crash("triggerer")

    assert len(killed) >= 2, "the triggerer and its trigger-runner subprocess"
    # A crash is not a user action: nothing is cancelled, every run keeps executing.
    for cyberdesk_run_id in cyberdesk_runs.values():
        state = e2e_emulator.admin.run_state(cyberdesk_run_id)
        assert state["run"]["status"] == "running", state
        assert state["executing"], state
    assert set(airflow_api.states(DAG_ID, run_id).values()) == {"deferred"}

    restarted = time.monotonic()
    new_triggerer = airflow_stack.start("triggerer")
    # The new triggerer adopts all 20 triggers while their runs are still executing ...
    adopted = poll_until(
        lambda: all_mapped(
            {
                index: jobs - first_jobs
                for index, jobs in trigger_jobs(airflow_stack, run_id, "starting").items()
                if jobs - first_jobs
            }
        ),
        timeout=90,
        interval=1,
        what="a new triggerer to adopt the 20 triggers",
    )
    e2e_metrics["triggerer_restart_to_adoption_s"] = round(time.monotonic() - restarted, 1)
    # ... and sees them end.
    finished = time.monotonic()
    for cyberdesk_run_id in cyberdesk_runs.values():
        e2e_emulator.admin.finish_run(cyberdesk_run_id)
    assert airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=150) == "success"
    e2e_metrics["runs_finished_to_dag_success_s"] = round(time.monotonic() - finished, 1)

    assert set(airflow_api.states(DAG_ID, run_id).values()) == {"success"}
    for index in range(COUNT):
        assert airflow_api.xcom(DAG_ID, run_id, TASK_ID, map_index=index) == {
            "patient": f"p-{index:02d}",
            "pages": 3,
        }
    # The new triggerer fired the 20 events. Airflow writes that line to the trigger's own log
    # file, or to the triggerer's log when the file was already closed for the finished trigger.
    new_jobs = set().union(*adopted.values())
    fired_in_files = {
        index
        for index, jobs in trigger_jobs(airflow_stack, run_id, "Trigger fired event").items()
        if jobs <= new_jobs
    }
    service_log = new_triggerer.log_path.read_text(errors="replace")
    fired_in_service_log = {
        index
        for index in range(COUNT)
        if re.search(rf"Trigger fired event .*/{TASK_ID}/{index}/1 \(ID", service_log)
    }
    assert fired_in_files | fired_in_service_log == set(range(COUNT))
    # The 20 triggers share one poller, yet each task's trigger log tells only about its own run.
    for name, text in airflow_stack.trigger_logs(DAG_ID, run_id, TASK_ID).items():
        match = MAPPED_TRIGGER_LOG.fullmatch(name)
        assert match is not None, name
        mentioned = set(re.findall(r"Cyberdesk run ([0-9a-f-]{36}) \[", text))
        assert mentioned <= {cyberdesk_runs[int(match.group(1))]}, (name, mentioned)

    # No duplicate: one create per task instance, 20 runs of the workflow, no cancellation.
    creates = e2e_emulator.admin.stats()["creates_by_idempotency_key"]
    for index in range(COUNT):
        key = derive_idempotency_key(DAG_ID, run_id, TASK_ID, index, "run")
        assert creates[key] == 1, index
    assert set(creates.values()) == {1}
    runs = list(emulator_client.runs.iter(workflow_id=workflow_id))
    assert sorted(run.id for run in runs) == sorted(cyberdesk_runs.values())
    assert {run.status for run in runs} == {"success"}
