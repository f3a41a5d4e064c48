"""A worker killed (SIGKILL) while its non-deferrable task waits: the retry re-attaches.

The DAG runs with the real ``dag.test()`` loop in a child process. The child is killed with
SIGKILL while the task polls its Cyberdesk run (no ``on_kill``, no ``finally``: the process is
simply gone). Running the task again for the same DAG run (try 2) must find the same run through
its Idempotency-Key and wait for it: one create in the emulator, the same run id, its output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rel_airflow_env import DAGS

from cyberdesk_core import CyberdeskClient, derive_idempotency_key

LOGICAL_DATE = "2026-02-01T00:00:00+00:00"
RUN_ID = "manual__worker_crash"


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _dag_file(dag_id: str, workflow_id: str) -> str:
    return textwrap.dedent(
        f'''
        from datetime import datetime, timedelta, timezone

        from airflow.sdk import DAG

        from cyberdesk_airflow.operators.run import CyberdeskRunOperator

        with DAG(
            "{dag_id}", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)
        ) as dag:
            CyberdeskRunOperator(
                task_id="run",
                workflow_id="{workflow_id}",
                input_values={{"month": "2026-01"}},
                deferrable=False,
                poll_interval=0.2,
                retries=1,
                retry_delay=timedelta(0),
            )

        if __name__ == "__main__":
            from airflow.models.dagrun import DagRun

            # dag.test() names each DAG run after the wall clock; a fixed run id makes the second
            # process resume the same DAG run (try 2 of the same task), as after a lost worker.
            DagRun.generate_run_id = staticmethod(lambda **_: "{RUN_ID}")
            dag.test(logical_date=datetime.fromisoformat("{LOGICAL_DATE}"))
        '''
    )


@pytest.mark.slow
def test_killed_worker_retry_reattaches_to_the_same_run(
    emulator: Any, airflow_db: Any, xcom: Any, ti_states: Any, tmp_path: Any
) -> None:
    admin = emulator.admin
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        workflow = client.workflows.create(
            "Month-end close\n```emulator-behavior\n"
            '{"duration": 1000000, "output": {"closed": "{{ inputs.month }}"}}\n```'
        ).id
        dag_id = f"rel_worker_crash_{uuid.uuid4().hex[:8]}"
        dag_file = DAGS / f"{dag_id}.py"
        dag_file.write_text(_dag_file(dag_id, workflow))
        admin.reset_stats()

        def runs_of_workflow() -> list[Any]:
            return list(client.runs.list(workflow_id=workflow).items)

        def gets() -> int:
            return int(admin.stats()["requests_by_route"].get("GET /v1/runs/{run_id}", 0))

        first = subprocess.Popen(
            [sys.executable, str(dag_file)],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_until(lambda: len(runs_of_workflow()) == 1, 90, "the first try to create a run")
            polls_before = gets()
            _wait_until(lambda: gets() >= polls_before + 3, 30, "the first try to poll")
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        assert first.returncode == -signal.SIGKILL
        (run,) = runs_of_workflow()
        assert not client.runs.get(run.id).is_terminal  # nobody cancelled it: the worker died

        log = tmp_path / "second-try.log"
        with log.open("wb") as sink:
            second = subprocess.Popen(
                [sys.executable, str(dag_file)],
                env=os.environ.copy(),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                polls_before = gets()
                _wait_until(lambda: gets() >= polls_before + 3, 90, "the retry to poll")
                admin.finish_run(run.id, "success")
                second.wait(timeout=90)
            finally:
                if second.poll() is None:
                    os.killpg(second.pid, signal.SIGKILL)
                    print(log.read_text(errors="replace")[-5000:])
        assert second.returncode == 0, log.read_text(errors="replace")[-3000:]
        stats = admin.stats()
        assert [r.id for r in runs_of_workflow()] == [run.id]

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        dr = session.query(DagRun).filter_by(dag_id=dag_id, run_id=RUN_ID).one()
        session.expunge(dr)
    assert str(dr.state) == "success"
    # (dag.test() resets the try counter when it clears the task, so only the state is checked;
    # the re-attachment itself is proven by the single create and the single run below.)
    assert ti_states(dr)[("run", -1)][0] == "success"
    assert xcom(dr, "run", "run_id") == run.id
    assert xcom(dr, "run") == {"closed": "2026-01"}
    key = derive_idempotency_key(dag_id, dr.run_id, "run", -1, "run")
    assert stats["creates_by_idempotency_key"] == {key: 1}
    assert stats["runs_created"] == 1
