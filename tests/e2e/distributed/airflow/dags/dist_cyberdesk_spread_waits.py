"""Distributed-stack DAG: a few deferred runs in the default trigger queue (either triggerer may
run them, and take them over from the other). ``conf``: ``workflow_id``."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import CyberdeskRunOperator

with DAG(
    dag_id="dist_cyberdesk_spread_waits",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["e2e", "distributed"],
):
    CyberdeskRunOperator.partial(
        task_id="wait",
        workflow_id="{{ dag_run.conf['workflow_id'] }}",
        deferrable=True,
        poll_interval=2.0,
    ).expand(input_values=[{"case": index} for index in range(4)])
