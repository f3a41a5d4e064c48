"""Distributed-stack DAG: two deferred runs, each pinned to one triggerer by its queue.

With ``[triggerer] queues_enabled`` a deferred task's trigger carries the task's queue, and the
test stack's triggerers serve ``default`` plus ``pinned_a`` (triggerer-a) or ``pinned_b``
(triggerer-b); the Celery workers serve all three. ``conf``: ``workflow_id``. The tests kill the
tasks (mark failed, clear) and expect the runs cancelled within two poll intervals.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

POLL_INTERVAL = 2.0

with DAG(
    dag_id="dist_cyberdesk_pinned_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    max_active_runs=4,
    tags=["e2e", "distributed"],
):
    for queue in ("pinned_a", "pinned_b"):
        CyberdeskRunOperator(
            task_id=f"hold_{queue[-1]}",
            queue=queue,
            workflow_id="{{ dag_run.conf['workflow_id'] }}",
            input_values={"case": "{{ dag_run.run_id }}", "queue": queue},
            deferrable=True,
            poll_interval=POLL_INTERVAL,
        )
