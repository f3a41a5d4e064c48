"""A real Airflow installation shows a deferred run's agent steps in the task log while the run
goes on, and a ``task_failed`` run's reason with a screenshot link that downloads a PNG, read
through the Airflow REST API as a person reads them in the UI."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from airflow_api import AirflowApi
from airflow_stack import AirflowStack

from cyberdesk_core import CyberdeskClient

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_forensics"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REASON = "The ERP rejected the period: October is closed"
STEPS = [
    {"text": "Opening the ERP", "tool": "computer", "tool_input": {"action": "screenshot"}},
    {
        "text": "Open the import menu",
        "tool": "computer",
        "tool_input": {"action": "left_click", "target": "Import"},
    },
    {"text": "Choosing the file", "tool": "computer", "tool_input": {"action": "type"}},
]
LINK = re.compile(r"screenshot \d+: (https?://\S+)")


def first_step_while_running(
    api: AirflowApi, client: CyberdeskClient, run_id: str, timeout: float
) -> tuple[str, str]:
    """Poll the ``live`` task's log until a step line shows; return it and the Cyberdesk run's
    status at that moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cyberdesk_run = api.xcom(DAG_ID, run_id, "live", "run_id")
            log = api.task_log(DAG_ID, run_id, "live")
        except AssertionError:  # no XCom nor log yet
            time.sleep(0.5)
            continue
        step = re.search(rf"Cyberdesk run {cyberdesk_run} step \d+: .*", log)
        if step:
            return step.group(0), str(client.runs.get(cyberdesk_run).status)
        time.sleep(0.5)
    raise AssertionError(f"No step line in the task log within {timeout}s")


def test_steps_live_and_a_failed_run_explained_in_the_task_log(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    emulator_client: CyberdeskClient,
    make_workflow: Callable[[str, dict[str, Any]], str],
) -> None:
    # 30 s at the suite's time scale, a step every 10 s: the log is read while the run goes on.
    live = make_workflow("month-end-import", {"duration": 300, "steps": STEPS})
    failing = make_workflow(
        "month-end-close",
        {"duration": 30, "steps": STEPS, "outcome": "task_failed", "error_message": REASON},
    )
    run_id = airflow_api.trigger(DAG_ID, {"live_workflow_id": live, "failing_workflow_id": failing})

    step, status_then = first_step_while_running(airflow_api, emulator_client, run_id, 120)
    assert status_then == "running", step

    state = airflow_api.wait_for_dag_run(DAG_ID, run_id, timeout=150)
    assert state == "failed"
    states = airflow_api.states(DAG_ID, run_id)
    assert states[("live", -1)] == "success", states
    assert states[("failing", -1)] == "failed", states
    live_log = airflow_api.task_log(DAG_ID, run_id, "live")
    assert "machine 'e2e-desk-" in live_log
    assert "clicked 'Import' (tool computer.left_click)" in live_log

    failed_log = airflow_api.task_log(DAG_ID, run_id, "failing")
    assert REASON in failed_log
    exception_text = failed_log[failed_log.index("CyberdeskRunFailedError") :]
    assert REASON in exception_text
    links = LINK.findall(exception_text)
    assert links, exception_text
    png = httpx.get(links[-1], follow_redirects=True, timeout=30)
    assert png.status_code == 200
    assert png.content.startswith(PNG_SIGNATURE)
    report = airflow_api.xcom(DAG_ID, run_id, "failing", "cyberdesk_report")
    assert report["status"] == "task_failed"
    assert report["usage"]["agentic_steps"] >= len(STEPS)
