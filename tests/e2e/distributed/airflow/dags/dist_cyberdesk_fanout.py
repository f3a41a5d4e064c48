"""Distributed-stack DAG: 200 deferred runs (dynamic task mapping), a deferred chain with
``$ref`` and a deferred bulk batch, all waiting in the triggerers at once.

``conf``: ``workflow_id`` (mapped runs and bulk), ``extract_workflow_id``, ``load_workflow_id``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import (
    CyberdeskBulkRunOperator,
    CyberdeskChainOperator,
    CyberdeskRunOperator,
)

COUNT = 200
POLL_INTERVAL = 2.0
WORKFLOW = "{{ dag_run.conf['workflow_id'] }}"

with DAG(
    dag_id="dist_cyberdesk_fanout",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    # Every task may sit deferred at the same time; the executor's parallelism bounds the rest.
    max_active_tasks=COUNT + 8,
    tags=["e2e", "distributed"],
):
    CyberdeskRunOperator.partial(
        task_id="extract_patient",
        workflow_id=WORKFLOW,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    ).expand(input_values=[{"patient": f"p-{index:03d}"} for index in range(COUNT)])
    CyberdeskChainOperator(
        task_id="chain",
        steps=[
            {
                "workflow_id": "{{ dag_run.conf['extract_workflow_id'] }}",
                "session_alias": "extract",
                "inputs": {"patient": "chain"},
            },
            {
                "workflow_id": "{{ dag_run.conf['load_workflow_id'] }}",
                "session_alias": "load",
                "inputs": {"total": {"$ref": "extract.outputs.total"}},
            },
        ],
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
    CyberdeskBulkRunOperator(
        task_id="bulk",
        workflow_id=WORKFLOW,
        count=3,
        input_values={"patient": "bulk"},
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
