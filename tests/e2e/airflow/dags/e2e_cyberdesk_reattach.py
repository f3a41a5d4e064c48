"""End-to-end DAG: one run whose files are downloaded, retried once automatically.

``conf``: ``workflow_id``, ``download_to`` (a ``file://`` folder). The tests make the download
fail on the first try, then clear the task, to prove what a new try does with the run.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

with DAG(
    dag_id="e2e_cyberdesk_reattach",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    max_active_runs=4,
    tags=["e2e"],
):
    CyberdeskRunOperator(
        task_id="post_journal",
        workflow_id="{{ dag_run.conf['workflow_id'] }}",
        input_values={"case": "{{ dag_run.run_id }}"},
        download_attachments_to="{{ dag_run.conf['download_to'] }}",
        deferrable=True,
        poll_interval=1.0,
    )
