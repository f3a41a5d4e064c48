"""``execution_timeout`` on a deferred task cancels its Cyberdesk run within two poll intervals.

The trigger carries the deadline (task start + ``execution_timeout``); when it passes, the task
resumes, cancels the run and fails. The emulator's own record (``ended_at``, not executing any
more) is the judge.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rel_airflow_env import SLOW_WORKFLOW, new_dag

from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_core import CyberdeskClient

POLL = 1.0
#: Long enough to cover dag.test()'s own start-up between the task's start and the run's creation.
EXECUTION_TIMEOUT = timedelta(seconds=15)


@pytest.mark.slow
def test_execution_timeout_of_deferred_task_cancels_run_within_two_polls(
    emulator: Any, run_dag: Any, xcom: Any, ti_states: Any
) -> None:
    with new_dag("exec_timeout") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=SLOW_WORKFLOW,
            deferrable=True,
            poll_interval=POLL,
            execution_timeout=EXECUTION_TIMEOUT,
            retries=0,
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)][0] == "failed"
    run_id = xcom(dr, "run", "run_id")
    state = emulator.admin.run_state(run_id)
    assert state["run"]["status"] == "cancelled"
    assert not state["executing"]
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        run = client.runs.get(run_id)
    assert run.ended_at is not None
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).one()
        started = ti.start_date
    assert started is not None
    # execution_timeout counts from the task's start, as Airflow defines it.
    deadline = started + EXECUTION_TIMEOUT
    # On a slow machine dag.test() may start the task so late that the deadline passed before
    # the run existed; then the run must be cancelled at once instead.
    due = max(deadline, run.created_at)
    late = (run.ended_at - due).total_seconds()
    assert late <= 2 * POLL, f"cancelled {late:.2f}s after it was due ({started=}, {run=})"
    assert run.ended_at >= deadline, "cancelled before the execution_timeout deadline"
