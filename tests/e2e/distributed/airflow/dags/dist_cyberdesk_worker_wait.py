"""Distributed-stack DAG: one run waited for in the Celery worker (not deferred), retried once.

``conf``: ``workflow_id``. The test kills the worker holding the task; the retry re-attaches.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

with DAG(
    dag_id="dist_cyberdesk_worker_wait",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    tags=["e2e", "distributed"],
):
    CyberdeskRunOperator(
        task_id="close_books",
        workflow_id="{{ dag_run.conf['workflow_id'] }}",
        input_values={"case": "{{ dag_run.run_id }}"},
        deferrable=False,
        poll_interval=1.0,
    )
