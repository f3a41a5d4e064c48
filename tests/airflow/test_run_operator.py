"""CyberdeskRunOperator through real ``dag.test()`` runs against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import DAG
from conftest import cancelled_in_emulator

from cyberdesk_airflow.operators.run import CyberdeskRunOperator

POLL = 0.2


def new_dag(name: str, **kwargs: Any) -> DAG:
    return DAG(
        f"{name}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        **kwargs,
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_success_returns_output_and_pushes_ids(
    deferrable: bool,
    ok_workflow: str,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    client: Any,
    printed: Any,
) -> None:
    with new_dag("run_ok") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=ok_workflow,
            input_values={"month": "{{ '2026-' ~ '03' }}"},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    # dag.test() runs a deferred task's trigger in-process and then resumes the task.
    assert ("running trigger in line" in printed()) is deferrable
    assert xcom(dr, "run") == {"month": "2026-03", "total": 42}
    run_id = xcom(dr, "run", "run_id")
    run = client.runs.get(run_id)
    assert run.status == "success"
    assert run.input_values == {"month": "2026-03"}
    assert xcom(dr, "run", "run_url") == client.run_url(run_id)
    assert xcom(dr, "run", "_link_CyberdeskRunLink") == client.run_url(run_id)
    assert xcom(dr, "run", "session_id") == run.session_id


def test_prompt_and_model_overrides_reach_cyberdesk(
    ok_workflow: str, run_dag: Any, xcom: Any, ti_states: Any, client: Any
) -> None:
    model_id = str(uuid.uuid4())
    with new_dag("run_overrides") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=ok_workflow,
            input_values={"month": "2026-04"},
            main_prompt="{{ 'Close ' ~ 'April' }}",
            model_metadata={"main_agent_model_id": model_id},
            deferrable=False,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    run = client.runs.get(xcom(dr, "run", "run_id"))
    assert run.main_prompt == "Close April"
    assert (run.model_metadata or {}).get("main_agent_model_id") == model_id


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize("outcome", ["task_failed", "error"])
def test_failed_run_fails_task_with_errors(
    deferrable: bool, outcome: str, make_workflow: Any, run_dag: Any, ti_states: Any, printed: Any
) -> None:
    workflow = make_workflow(
        {"duration": 20, "outcome": outcome, "error_message": f"ERP said no ({outcome})"}
    )
    with new_dag(f"run_{outcome}") as dag:
        CyberdeskRunOperator(
            task_id="run", workflow_id=workflow, deferrable=deferrable, poll_interval=POLL
        )
    dr = run_dag(dag)
    output = printed()
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)][0] == "failed"
    assert f"ended with status {outcome}" in output
    assert f"ERP said no ({outcome})" in output


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_timeout_cancels_run(
    deferrable: bool, make_workflow: Any, run_dag: Any, client: Any, xcom: Any, emulator: Any
) -> None:
    slow = make_workflow({"duration": 10_000, "outcome": "success"}, "slow")
    with new_dag("run_timeout") as dag:
        CyberdeskRunOperator(
            task_id="run", workflow_id=slow, deferrable=deferrable, poll_interval=POLL, timeout=1.0
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    run_id = xcom(dr, "run", "run_id")
    assert client.runs.get(run_id).status == "cancelled"
    assert cancelled_in_emulator(emulator, run_id)


def test_execution_timeout_while_deferred_cancels_run(
    make_workflow: Any, run_dag: Any, client: Any, xcom: Any
) -> None:
    slow = make_workflow({"duration": 10_000, "outcome": "success"}, "slow")
    with new_dag("run_exec_timeout") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=slow,
            deferrable=True,
            poll_interval=POLL,
            execution_timeout=timedelta(seconds=2),
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert client.runs.get(xcom(dr, "run", "run_id")).status == "cancelled"


def test_cancelled_run_fails_task(
    make_workflow: Any, run_dag: Any, ti_states: Any, printed: Any
) -> None:
    slow = make_workflow({"duration": 10_000, "outcome": "success"}, "slow")

    class CancelledElsewhere(CyberdeskRunOperator):
        def wait_for_runs(self, context: Any, runs: Any, **kwargs: Any) -> Any:
            with self.hook.get_client() as c:
                c.runs.cancel(runs[0].id)
            return super().wait_for_runs(context, runs, **kwargs)

    with new_dag("run_cancelled") as dag:
        CancelledElsewhere(task_id="run", workflow_id=slow, deferrable=True, poll_interval=POLL)
    dr = run_dag(dag)
    output = printed()
    assert dr.state == "failed"
    assert "ended with status cancelled" in output


def test_fire_and_forget_returns_at_once(
    make_workflow: Any, run_dag: Any, xcom: Any, client: Any
) -> None:
    slow = make_workflow({"duration": 10_000, "outcome": "success"}, "slow")
    with new_dag("run_forget") as dag:
        CyberdeskRunOperator(task_id="run", workflow_id=slow, wait_for_completion=False)
    dr = run_dag(dag)
    assert dr.state == "success"
    assert xcom(dr, "run") is None
    run_id = xcom(dr, "run", "run_id")
    assert not client.runs.get(run_id).is_terminal
    client.runs.cancel(run_id)


def test_mapped_over_twenty_inputs(
    ok_workflow: str, run_dag: Any, xcom: Any, ti_states: Any
) -> None:
    months = [f"2026-{i:02d}" for i in range(1, 21)]
    with new_dag("run_mapped") as dag:
        CyberdeskRunOperator.partial(
            task_id="run", workflow_id=ok_workflow, deferrable=True, poll_interval=POLL
        ).expand(input_values=[{"month": m} for m in months])
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    outputs = [xcom(dr, "run", map_index=i) for i in range(20)]
    assert [o["month"] for o in outputs] == months
    run_ids = {xcom(dr, "run", "run_id", map_index=i) for i in range(20)}
    assert len(run_ids) == 20


def test_deferrable_defaults_to_airflow_config(airflow_home: Any) -> None:
    from cyberdesk_airflow.operators import CyberdeskChainOperator
    from cyberdesk_airflow.sensors import CyberdeskRunSensor

    # Unset in this process: everything waits in the worker.
    assert not CyberdeskRunOperator(task_id="a", workflow_id="w").deferrable
    assert not CyberdeskRunSensor(task_id="s", run_id="r").deferrable
    code = (
        "import json;"
        "from cyberdesk_airflow.operators import CyberdeskRunOperator, CyberdeskChainOperator;"
        "from cyberdesk_airflow.sensors import CyberdeskRunSensor;"
        "print(json.dumps([CyberdeskRunOperator(task_id='a', workflow_id='w').deferrable,"
        "CyberdeskChainOperator(task_id='b', steps=[]).deferrable,"
        "CyberdeskRunSensor(task_id='c', run_id='r').deferrable]))"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, True, True]
    assert not CyberdeskChainOperator(task_id="b", steps=[]).deferrable
