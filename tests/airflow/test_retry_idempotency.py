"""A retried task instance reattaches to its run instead of creating a second one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_core import derive_idempotency_key


class LosesWorkerOnFirstTry(CyberdeskRunOperator):
    """Fails its first try right after creating the run, as a lost worker would."""

    def wait_for_runs(self, context: Any, runs: Any, **kwargs: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost")
        return super().wait_for_runs(context, runs, **kwargs)


class FailsAfterRunEnded(CyberdeskRunOperator):
    """Its first try fails after the run succeeded (e.g. a downstream write failed)."""

    def complete(self, context: Any, runs: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("could not store the result")
        return super().complete(context, runs)


def _key(dr: Any, task_id: str) -> str:
    return derive_idempotency_key(dr.dag_id, dr.run_id, task_id, -1, "run")


def test_retry_reattaches_to_active_run(
    make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any, emulator: Any, client: Any
) -> None:
    workflow = make_workflow({"duration": 300, "outcome": "success", "output": {"ok": True}})
    with new_dag("retry_reattach") as dag:
        LosesWorkerOnFirstTry(
            task_id="run",
            workflow_id=workflow,
            deferrable=True,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    before = emulator.admin.stats()["runs_created"]
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    assert ti_states(dr)[("run", -1)] == ("success", 2)
    stats = emulator.admin.stats()
    assert stats["creates_by_idempotency_key"][_key(dr, "run")] == 1
    assert stats["runs_created"] - before == 1
    assert xcom(dr, "run") == {"ok": True}
    assert len(client.runs.list(workflow_id=workflow).items) == 1


def test_retry_after_run_ended_reruns_same_run(
    make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any, emulator: Any, client: Any
) -> None:
    workflow = make_workflow({"duration": 20, "outcome": "success", "output": {"ok": 1}})
    with new_dag("retry_rerun") as dag:
        FailsAfterRunEnded(
            task_id="run",
            workflow_id=workflow,
            deferrable=False,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    stats = emulator.admin.stats()
    assert stats["creates_by_idempotency_key"][_key(dr, "run")] == 1
    assert stats["requests_by_route"].get("POST /v1/runs/{run_id}/retry") == 1
    runs = client.runs.list(workflow_id=workflow).items
    assert len(runs) == 1
    assert runs[0].status == "success"
    assert xcom(dr, "run") == {"ok": 1}
