"""End-to-end DAG: a deferrable run, a two-step chain with ``$ref``, and an attachment download.

Workflow ids and the download folder come from the DAG run's ``conf`` (templated), so the test
decides them at trigger time: ``report_workflow_id``, ``extract_workflow_id``,
``load_workflow_id``, ``month``, ``download_to`` (a ``file://`` URI).
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import (
    CyberdeskChainOperator,
    CyberdeskDownloadAttachmentsOperator,
    CyberdeskRunOperator,
)

with DAG(
    dag_id="e2e_cyberdesk_pipeline",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    tags=["e2e"],
):
    report = CyberdeskRunOperator(
        task_id="monthly_report",
        workflow_id="{{ dag_run.conf['report_workflow_id'] }}",
        input_values={"month": "{{ dag_run.conf['month'] }}"},
        deferrable=True,
        poll_interval=1.0,
        timeout=300,
    )
    # The chain waits in the worker, so both waiting modes run under the real executor.
    chain = CyberdeskChainOperator(
        task_id="extract_and_load",
        steps=[
            {
                "workflow_id": "{{ dag_run.conf['extract_workflow_id'] }}",
                "session_alias": "extract",
                "inputs": {"month": "{{ dag_run.conf['month'] }}"},
            },
            {
                "workflow_id": "{{ dag_run.conf['load_workflow_id'] }}",
                "session_alias": "load",
                "inputs": {"total": {"$ref": "extract.outputs.total"}},
            },
        ],
        deferrable=False,
        poll_interval=1.0,
        timeout=300,
    )
    download = CyberdeskDownloadAttachmentsOperator(
        task_id="download_exports",
        run_id="{{ ti.xcom_pull(task_ids='monthly_report', key='run_id') }}",
        destination="{{ dag_run.conf['download_to'] }}",
    )
    report >> chain >> download
