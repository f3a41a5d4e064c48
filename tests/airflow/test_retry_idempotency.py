"""A retried task instance reattaches to its run instead of creating a second one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from retry_helpers import fails_after_runs_ended, fixed_before_retry, retries
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_core import derive_idempotency_key


class LosesWorkerOnFirstTry(CyberdeskRunOperator):
    """Fails its first try right after creating the run, as a lost worker would."""

    def wait_for_runs(self, context: Any, runs: Any, **kwargs: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost")
        return super().wait_for_runs(context, runs, **kwargs)


FailsAfterRunEnded = fails_after_runs_ended(CyberdeskRunOperator)


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


def _one_run(client: Any, workflow: str) -> Any:
    runs = client.runs.list(workflow_id=workflow).items
    assert len(runs) == 1
    return runs[0]


def test_retry_after_run_succeeded_reuses_it(
    make_workflow: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    emulator: Any,
    client: Any,
    printed: Any,
) -> None:
    """The earlier try's run succeeded: the retry takes its outputs and executes nothing."""
    workflow = make_workflow({"duration": 20, "outcome": "success", "output": {"ok": 1}})
    with new_dag("retry_reuse") as dag:
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
    assert ti_states(dr)[("run", -1)] == ("success", 2)
    stats = emulator.admin.stats()
    assert stats["creates_by_idempotency_key"][_key(dr, "run")] == 1
    assert retries(emulator) == 0
    run = _one_run(client, workflow)
    assert run.status == "success"
    assert xcom(dr, "run") == {"ok": 1}
    assert f"Reusing Cyberdesk run {run.id} from an earlier try" in printed()


def test_download_failure_then_retry_executes_the_run_once(
    make_workflow: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    emulator: Any,
    client: Any,
    tmp_path: Any,
) -> None:
    """The acceptance scenario: the run succeeds, its download answers 500 until the task's
    first try fails, the automatic retry reuses the run and downloads: one execution."""
    workflow = make_workflow(
        {
            "duration": 20,
            "outcome": "success",
            "output": {"rows": 3},
            "files": [{"name": "journal.csv", "content": "a,b"}],
        }
    )
    with new_dag("retry_download") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=workflow,
            deferrable=True,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
            download_attachments_to=f"file://{tmp_path}",
        )
    emulator.admin.reset_stats()
    # More 500s than one try's HTTP retries (the hook default, 3): the first try fails.
    emulator.admin.set_faults(
        {"rules": [{"route": "GET /v1/run-attachments/*/download", "kind": "500", "times": 4}]}
    )
    try:
        dr = run_dag(dag)
    finally:
        emulator.admin.set_faults({"rules": []})
    assert dr.state == "success", ti_states(dr)
    assert ti_states(dr)[("run", -1)] == ("success", 2)
    assert emulator.admin.stats()["runs_created"] == 1
    assert retries(emulator) == 0
    assert _one_run(client, workflow).status == "success"
    assert xcom(dr, "run") == {"rows": 3}
    assert (tmp_path / "journal.csv").read_text() == "a,b"
    assert [p.name for p in tmp_path.iterdir()] == ["journal.csv"]


def test_retry_after_run_failed_reruns_same_run(
    make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any, emulator: Any, client: Any
) -> None:
    """The earlier try's run failed: the retry runs it again in place (same id)."""
    workflow = make_workflow({"duration": 20, "outcome": "task_failed", "output": None})
    # The agent's problem gets fixed before the retry.
    FixedBeforeRetry = fixed_before_retry(
        CyberdeskRunOperator, client, workflow, {"duration": 20, "output": {"ok": 2}}
    )

    with new_dag("retry_rerun_failed") as dag:
        FixedBeforeRetry(
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
    assert emulator.admin.stats()["creates_by_idempotency_key"][_key(dr, "run")] == 1
    assert retries(emulator) == 1
    run = _one_run(client, workflow)
    assert run.status == "success"
    assert xcom(dr, "run") == {"ok": 2}


def test_rerun_succeeded_executes_a_succeeded_run_again(
    make_workflow: Any, run_dag: Any, xcom: Any, ti_states: Any, emulator: Any, client: Any
) -> None:
    """The one explicit way to execute a succeeded run again on a retry."""
    workflow = make_workflow({"duration": 20, "outcome": "success", "output": {"ok": 3}})
    with new_dag("retry_rerun_succeeded") as dag:
        FailsAfterRunEnded(
            task_id="run",
            workflow_id=workflow,
            deferrable=False,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
            rerun_succeeded=True,
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    assert retries(emulator) == 1
    assert _one_run(client, workflow).status == "success"
    assert xcom(dr, "run") == {"ok": 3}
