"""End-to-end DAG: two deferred runs, one whose agent steps the task log shows while it runs and
one that ends ``task_failed`` (its reason and screenshot links in the task log and exception).

Workflow ids come from the DAG run's ``conf``: ``live_workflow_id``, ``failing_workflow_id``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

with DAG(
    dag_id="e2e_cyberdesk_forensics",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["e2e"],
):
    CyberdeskRunOperator(
        task_id="live",
        workflow_id="{{ dag_run.conf['live_workflow_id'] }}",
        deferrable=True,
        poll_interval=1.0,
        timeout=300,
    )
    CyberdeskRunOperator(
        task_id="failing",
        workflow_id="{{ dag_run.conf['failing_workflow_id'] }}",
        deferrable=True,
        poll_interval=1.0,
        timeout=300,
    )
