"""Clearing a deferred task: the old try's cancel may land on the run the new try reattached to.

The old try's trigger ``on_kill`` cancels the run while the new try, sharing the Idempotency-Key,
has already reattached to it. Each test reproduces that order deterministically: a first try
creates the run and is lost, and the second try cancels the run through the Cyberdesk API right
after it reattached (where the old trigger's cancel would land), then waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.exceptions import CyberdeskRunFailedError
from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_core import derive_idempotency_key

#: Simulated seconds: the first execution never ends by itself within a test.
FOREVER = 1_000_000
QUICK = {"duration": 20, "outcome": "success", "output": {"ok": True}}

# dag.test() runs tasks in this process; the operators below reach the test through this hook.
ON_WAIT: dict[str, Callable[[Any, Sequence[str]], None]] = {}


class LostThenInterrupted(CyberdeskRunOperator):
    """Try 1 creates the run and is lost; try 2 calls ``ON_WAIT`` each time it starts waiting."""

    def wait_for_runs(self, context: Any, runs: Any, **kwargs: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost")
        ON_WAIT[self.dag_id](runs, kwargs.get("reattached_run_ids") or ())
        return super().wait_for_runs(context, runs, **kwargs)


def _key(dr: Any) -> str:
    return derive_idempotency_key(dr.dag_id, dr.run_id, "run", -1, "run")


def _dag(name: str, workflow: str, deferrable: bool) -> Any:
    with new_dag(name) as dag:
        LostThenInterrupted(
            task_id="run",
            workflow_id=workflow,
            deferrable=deferrable,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_reattached_run_cancelled_by_old_try_is_rerun(
    deferrable: bool,
    make_workflow: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    emulator: Any,
    client: Any,
) -> None:
    workflow = make_workflow({"duration": FOREVER})
    dag = _dag("clear_race", workflow, deferrable)
    cancelled: list[str] = []

    def old_try_cancels(runs: Any, reattached: Sequence[str]) -> None:
        if reattached:
            assert [run.id for run in runs] == list(reattached)
            assert not runs[0].is_terminal
            # The re-run finishes quickly; the cancel is what the old try's on_kill sends.
            emulator.admin.set_workflow_behavior(workflow, QUICK)
            client.runs.cancel(runs[0].id)
            cancelled.append(runs[0].id)

    ON_WAIT[dag.dag_id] = old_try_cancels
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)
    assert ti_states(dr)[("run", -1)] == ("success", 2)
    assert xcom(dr, "run") == {"ok": True}
    runs = client.runs.list(workflow_id=workflow).items
    assert [run.id for run in runs] == cancelled == [xcom(dr, "run", "run_id")]
    assert runs[0].status == "success"
    stats = emulator.admin.stats()
    assert stats["creates_by_idempotency_key"][_key(dr)] == 1
    assert stats["requests_by_route"].get("POST /v1/runs/{run_id}/retry") == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_rerun_is_once_per_try(
    deferrable: bool,
    make_workflow: Any,
    run_dag: Any,
    ti_states: Any,
    emulator: Any,
    client: Any,
) -> None:
    """A cancel of the run this try re-ran is a real cancellation: the task fails."""
    workflow = make_workflow({"duration": FOREVER})
    dag = _dag("clear_race_twice", workflow, deferrable)
    cancelled: list[str] = []

    def cancel_every_wait(runs: Any, reattached: Sequence[str]) -> None:
        client.runs.cancel(runs[0].id)
        cancelled.append(runs[0].id)

    ON_WAIT[dag.dag_id] = cancel_every_wait
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)] == ("failed", 2)
    runs = client.runs.list(workflow_id=workflow).items
    assert len(runs) == 1
    assert runs[0].status == "cancelled"
    assert cancelled == [runs[0].id, runs[0].id]
    stats = emulator.admin.stats()
    assert stats["requests_by_route"].get("POST /v1/runs/{run_id}/retry") == 1


class CancelledByUser(CyberdeskRunOperator):
    """Cancels the run it created (as a user would in the dashboard) before waiting for it."""

    def wait_for_runs(self, context: Any, runs: Any, **kwargs: Any) -> Any:
        ON_WAIT[self.dag_id](runs, kwargs.get("reattached_run_ids") or ())
        return super().wait_for_runs(context, runs, **kwargs)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_user_cancelling_this_tries_run_fails_the_task(
    deferrable: bool,
    make_workflow: Any,
    run_dag: Any,
    ti_states: Any,
    emulator: Any,
    client: Any,
) -> None:
    workflow = make_workflow({"duration": FOREVER})
    with new_dag("user_cancel") as dag:
        CancelledByUser(
            task_id="run", workflow_id=workflow, deferrable=deferrable, poll_interval=POLL
        )

    def user_cancels(runs: Any, reattached: Sequence[str]) -> None:
        assert not reattached
        client.runs.cancel(runs[0].id)

    ON_WAIT[dag.dag_id] = user_cancels
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)] == ("failed", 1)
    runs = client.runs.list(workflow_id=workflow).items
    assert [run.status for run in runs] == ["cancelled"]
    assert "POST /v1/runs/{run_id}/retry" not in emulator.admin.stats()["requests_by_route"]


def test_run_this_task_cancelled_itself_is_not_rerun(emulator: Any) -> None:
    """A reattached run that this task cancelled (``on_kill``, timeout) stays a failure."""
    operator = CyberdeskRunOperator(task_id="run", workflow_id="wf")
    operator.cancel_runs(["run-1"])  # the emulator has no such run: logged, not raised
    event = {
        "status": "failed",
        "run_ids": ["run-1"],
        "reattached_run_ids": ["run-1"],
        "runs": [
            {
                "id": "run-1",
                "workflow_id": "wf",
                "status": "cancelled",
                "created_at": "2026-01-01T00:00:00+00:00",
            }
        ],
        "message": "",
    }
    with pytest.raises(CyberdeskRunFailedError, match="cancelled"):
        operator.execute_complete({"ti": None}, event)  # type: ignore[typeddict-item]
