"""CyberdeskRunSensor in poke, reschedule and deferrable modes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_airflow.sensors import CyberdeskRunSensor

MODES: dict[str, dict[str, Any]] = {
    "poke": {"mode": "poke"},
    "reschedule": {"mode": "reschedule"},
    "deferrable": {"deferrable": True},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_sensor_returns_output_of_templated_run(
    mode: str, make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any
) -> None:
    workflow = make_workflow({"duration": 150, "output": {"answer": "{{ inputs.q }}"}})
    with new_dag(f"sensor_{mode}") as dag:
        start = CyberdeskRunOperator(
            task_id="start",
            workflow_id=workflow,
            input_values={"q": mode},
            wait_for_completion=False,
        )
        sensor = CyberdeskRunSensor(
            task_id="wait",
            run_id="{{ ti.xcom_pull(task_ids='start', key='run_id') }}",
            poke_interval=POLL,
            timeout=60,
            **MODES[mode],
        )
        start >> sensor
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    assert xcom(dr, "wait") == {"answer": mode}
    assert xcom(dr, "wait", "run_url") == xcom(dr, "start", "run_url")


@pytest.mark.parametrize("mode", list(MODES))
def test_sensor_fails_on_failed_run(
    mode: str, make_workflow: Any, client: Any, run_dag: Any, ti_states: Any
) -> None:
    workflow = make_workflow({"duration": 50, "outcome": "task_failed", "error_message": "nope"})
    run = client.runs.create(workflow)
    with new_dag(f"sensor_fail_{mode}") as dag:
        CyberdeskRunSensor(
            task_id="wait", run_id=run.id, poke_interval=POLL, timeout=60, **MODES[mode]
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("wait", -1)][0] == "failed"


def test_deferred_sensor_times_out_without_cancelling(
    make_workflow: Any, client: Any, run_dag: Any
) -> None:
    run = client.runs.create(make_workflow({"duration": 10_000}))
    with new_dag("sensor_timeout") as dag:
        CyberdeskRunSensor(
            task_id="wait", run_id=run.id, poke_interval=POLL, timeout=1, deferrable=True
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert not client.runs.get(run.id).is_terminal
    client.runs.cancel(run.id)


def test_deferred_sensor_stops_at_execution_timeout(
    make_workflow: Any, client: Any, run_dag: Any
) -> None:
    run = client.runs.create(make_workflow({"duration": 10_000}))
    with new_dag("sensor_exec_timeout") as dag:
        CyberdeskRunSensor(
            task_id="wait",
            run_id=run.id,
            poke_interval=POLL,
            timeout=600,
            execution_timeout=timedelta(seconds=1),
            deferrable=True,
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert not client.runs.get(run.id).is_terminal
    client.runs.cancel(run.id)
