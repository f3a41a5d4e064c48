"""End-to-end DAG: one deferrable run that a test kills (mark failed / clear) while deferred.

``conf``: ``workflow_id``. ``poll_interval`` is 2 s; the tests expect cancellation within two.
The task runs in the pool ``e2e_cyberdesk_gate``, which the tests create and can close.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

POLL_INTERVAL = 2.0

with DAG(
    dag_id="e2e_cyberdesk_long_wait",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    max_active_runs=4,
    tags=["e2e"],
):
    CyberdeskRunOperator(
        task_id="long_run",
        workflow_id="{{ dag_run.conf['workflow_id'] }}",
        input_values={"case": "{{ dag_run.run_id }}"},
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        pool="e2e_cyberdesk_gate",
    )
