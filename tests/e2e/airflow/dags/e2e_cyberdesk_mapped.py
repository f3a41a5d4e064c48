"""End-to-end DAG: a deferrable run operator mapped over 20 inputs (triggerer crash test).

``conf``: ``workflow_id``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

MAPPED_INPUTS = [{"patient": f"p-{index:02d}"} for index in range(20)]

with DAG(
    dag_id="e2e_cyberdesk_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    # All 20 mapped tasks must be able to sit deferred at the same time.
    max_active_tasks=32,
    tags=["e2e"],
):
    CyberdeskRunOperator.partial(
        task_id="extract_patient",
        workflow_id="{{ dag_run.conf['workflow_id'] }}",
        deferrable=True,
        poll_interval=2.0,
    ).expand(input_values=MAPPED_INPUTS)
