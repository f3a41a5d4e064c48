"""A real Airflow installation runs a deferrable run, a chain with ``$ref`` and a download."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow_api import FINISHED_RUN_STATES, AirflowApi
from airflow_stack import AirflowStack

from cyberdesk_core import CyberdeskClient, derive_idempotency_key
from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_pipeline"
MONTH = "2026-10"
TRIAL_BALANCE = "account,amount\n4000,1234.50\n4100,-200.00\n"


def watch_dag_run(
    api: AirflowApi, run_id: str, timeout: float
) -> tuple[str, dict[str, set[str | None]]]:
    """Poll a DAG run until it finishes, recording every state each task was seen in."""
    seen: dict[str, set[str | None]] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for (task_id, _), state in api.states(DAG_ID, run_id).items():
            seen.setdefault(task_id, set()).add(state)
        state = str(api.dag_run(DAG_ID, run_id)["state"])
        if state in FINISHED_RUN_STATES:
            return state, seen
        time.sleep(0.25)
    raise AssertionError(f"DAG run {run_id} did not finish in {timeout}s; task states: {seen}")


def test_pipeline_defers_to_the_triggerer_chains_and_downloads(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
    tmp_path: Path,
) -> None:
    report_wf = make_workflow(
        "monthly-report",
        {
            # Long enough (6 s) that the task is seen deferred while the triggerer waits.
            "duration": 60,
            "output": {"month": "{{ inputs.month }}", "total": 1234.5, "rows": 2},
            "files": [
                {"name": "tb_{{ inputs.month }}.csv", "content": TRIAL_BALANCE},
                {"name": "summary_{{ inputs.month }}.txt", "content": "rows=2"},
            ],
        },
    )
    extract_wf = make_workflow(
        "erp-extract", {"duration": 10, "output": {"month": "{{ inputs.month }}", "total": 1234.5}}
    )
    load_wf = make_workflow(
        "ledger-load", {"duration": 10, "output": {"loaded_total": "{{ inputs.total }}"}}
    )
    downloads = tmp_path / "downloads"
    run_id = airflow_api.trigger(
        DAG_ID,
        {
            "report_workflow_id": report_wf,
            "extract_workflow_id": extract_wf,
            "load_workflow_id": load_wf,
            "month": MONTH,
            "download_to": f"file://{downloads}",
        },
    )

    state, seen = watch_dag_run(airflow_api, run_id, timeout=150)

    assert state == "success", (seen, airflow_api.states(DAG_ID, run_id))
    # The run operator deferred: its wait happened in the triggerer service, not in a worker.
    assert "deferred" in seen["monthly_report"], seen
    assert "deferred" not in seen["extract_and_load"], seen
    trigger_logs = airflow_stack.trigger_logs(DAG_ID, run_id, "monthly_report")
    assert len(trigger_logs) == 1, trigger_logs.keys()
    (trigger_log,) = trigger_logs.values()
    assert "monthly_report/-1/1 (ID" in trigger_log
    assert "starting" in trigger_log
    triggerer_output = airflow_stack.trigger_output(DAG_ID, run_id, "monthly_report")
    assert re.search(r"Trigger fired event.*monthly_report/-1/1 \(ID", triggerer_output)
    assert not airflow_stack.trigger_logs(DAG_ID, run_id, "extract_and_load")

    # Return values (XCom) of the three tasks.
    assert airflow_api.xcom(DAG_ID, run_id, "monthly_report") == {
        "month": MONTH,
        "total": 1234.5,
        "rows": 2,
    }
    cyberdesk_run_id = airflow_api.xcom(DAG_ID, run_id, "monthly_report", "run_id")
    assert airflow_api.xcom(DAG_ID, run_id, "monthly_report", "run_url") == (
        f"{e2e_emulator.url}/dashboard/runs/{cyberdesk_run_id}"
    )
    described = airflow_api.xcom(DAG_ID, run_id, "monthly_report", "cyberdesk_attachments")
    assert sorted(item["filename"] for item in described) == [
        f"summary_{MONTH}.txt",
        f"tb_{MONTH}.csv",
    ]
    assert airflow_api.xcom(DAG_ID, run_id, "extract_and_load") == {
        "extract": {"month": MONTH, "total": 1234.5},
        "load": {"loaded_total": 1234.5},
    }
    downloaded = airflow_api.xcom(DAG_ID, run_id, "download_exports")
    by_name = {item["filename"]: item for item in downloaded}
    assert set(by_name) == {f"tb_{MONTH}.csv", f"summary_{MONTH}.txt"}

    # The files are on disk with the exported content.
    assert (downloads / f"tb_{MONTH}.csv").read_text() == TRIAL_BALANCE
    assert (downloads / f"summary_{MONTH}.txt").read_text() == "rows=2"
    for item in downloaded:
        assert item["run_id"] == cyberdesk_run_id
        assert item["size_bytes"] == len((downloads / item["filename"]).read_bytes())
        assert item["path"].endswith(item["filename"])

    # Exactly one Cyberdesk run per workflow; the run operator's create used the task's key.
    run = emulator_client.runs.get(cyberdesk_run_id)
    assert run.status == "success"
    assert f"Cyberdesk run {cyberdesk_run_id} [success]" in triggerer_output
    assert run.workflow_id == report_wf
    for workflow_id in (report_wf, extract_wf, load_wf):
        assert emulator_client.runs.list(workflow_id=workflow_id).total == 1
    key = derive_idempotency_key(DAG_ID, run_id, "monthly_report", -1, "run")
    assert e2e_emulator.admin.stats()["creates_by_idempotency_key"].get(key) == 1
