"""Secrets never reach XCom, rendered fields, trigger kwargs or logs; on_kill cancels."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import cancelled_in_emulator
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.run import CyberdeskRunOperator

SECRET = "hunter2-SECRET-7f3a9"
VARIABLE_SECRET = "var-SECRET-c0ffee"


def _all_rows_text(dag_id: str) -> str:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        parts = [
            repr((x.key, x.value))
            for x in session.query(XComModel).filter(XComModel.dag_id == dag_id)
        ]
        parts += [
            repr(r.rendered_fields)
            for r in session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_id)
        ]
        parts += [
            repr((ti.next_kwargs, ti.next_method))
            for ti in session.query(TaskInstance).filter_by(dag_id=dag_id)
        ]
        parts += [repr(s.data) for s in session.query(SerializedDagModel).filter_by(dag_id=dag_id)]
    return "\n".join(parts)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_sensitive_inputs_reach_cyberdesk_only(
    deferrable: bool,
    make_workflow: Any,
    run_dag: Any,
    xcom: Any,
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    printed: Any,
    task_logs: Any,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_ERP_PASSWORD", VARIABLE_SECRET)
    workflow = make_workflow(
        {
            "duration": 20,
            "output": {
                "password_length": "{{ secrets.password | length }}",
                "erp_present": "{{ secrets.erp | present }}",
            },
        }
    )
    with new_dag("secrets") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=workflow,
            input_values={"user": "alice"},
            sensitive_input_values={"password": SECRET},
            sensitive_input_variables={"erp": "erp_password"},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success"
    output = xcom(dr, "run")
    assert str(output["password_length"]) == str(len(SECRET))
    assert str(output["erp_present"]).lower() == "true"
    run = client.runs.get(xcom(dr, "run", "run_id"))
    assert set(run.sensitive_input_aliases or {}) == {"password", "erp"}
    stored = _all_rows_text(dag.dag_id)
    output = printed()
    # Positive control: the captured output does contain the task's own log lines.
    assert f"Cyberdesk run {run.id}" in output
    # ... and the stored rows include the rendered, non-secret inputs.
    assert "alice" in stored
    logs = task_logs(dag.dag_id)
    for secret in (SECRET, VARIABLE_SECRET):
        assert secret not in stored
        assert secret not in output
        assert secret not in logs
        assert secret not in run.model_dump_json()


def test_on_kill_cancels_the_run(make_workflow: Any, client: Any, emulator: Any) -> None:
    run = client.runs.create(make_workflow({"duration": 10_000}))
    op = CyberdeskRunOperator(task_id="kill_me", workflow_id=run.workflow_id)
    op._active_run_ids = [run.id]
    op.on_kill()
    assert client.runs.get(run.id).status == "cancelled"
    assert cancelled_in_emulator(emulator, run.id)


def test_on_kill_before_any_run_does_nothing(emulator: Any) -> None:
    emulator.admin.reset_stats()
    CyberdeskRunOperator(task_id="never_started", workflow_id="wf").on_kill()
    routes = emulator.admin.stats()["requests_by_route"]
    assert not any(route.startswith("PATCH") for route in routes)


def test_on_kill_tolerates_finished_run(ok_workflow: str, client: Any) -> None:
    from cyberdesk_core import wait_for_run

    run = client.runs.create(ok_workflow, input_values={"month": "x"})
    wait_for_run(client, run.id, poll_interval=0.1)
    op = CyberdeskRunOperator(task_id="late_kill", workflow_id=ok_workflow)
    op._active_run_ids = [run.id]
    op.on_kill()
    assert client.runs.get(run.id).status == "success"
