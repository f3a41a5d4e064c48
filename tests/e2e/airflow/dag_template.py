"""DAGs the end-to-end test copies into the Airflow DAGs folder (workflow ids come from env)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from cyberdesk_airflow.operators import (
    CyberdeskChainOperator,
    CyberdeskDownloadAttachmentsOperator,
    CyberdeskRunOperator,
)

EXPORT_WF = os.environ["E2E_EXPORT_WORKFLOW"]
REPORT_WF = os.environ["E2E_REPORT_WORKFLOW"]
SLOW_WF = os.environ["E2E_SLOW_WORKFLOW"]
OUT_DIR = os.environ["E2E_OUT_DIR"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG("cyberdesk_e2e_pipeline", schedule=None, start_date=START, catchup=False):
    export = CyberdeskRunOperator(
        task_id="export",
        workflow_id=EXPORT_WF,
        input_values={"month": "2026-07"},
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
    )
    chain = CyberdeskChainOperator(
        task_id="chain",
        steps=[
            {"workflow_id": EXPORT_WF, "session_alias": "extract", "inputs": {"month": "2026-08"}},
            {
                "workflow_id": REPORT_WF,
                "session_alias": "report",
                "inputs": {"rows": {"$ref": "extract.outputs.rows"}},
            },
        ],
        deferrable=True,
        poll_interval=0.5,
    )
    download = CyberdeskDownloadAttachmentsOperator(
        task_id="download",
        run_id="{{ ti.xcom_pull(task_ids='export', key='run_id') }}",
        destination=f"file://{OUT_DIR}/{{{{ run_id | replace(':', '_') }}}}",
    )
    export >> chain >> download

with DAG("cyberdesk_e2e_kill", schedule=None, start_date=START, catchup=False):
    CyberdeskRunOperator(
        task_id="long_run", workflow_id=SLOW_WF, deferrable=True, poll_interval=0.5
    )
