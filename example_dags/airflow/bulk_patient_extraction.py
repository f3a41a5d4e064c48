"""Bulk patient-data extraction: yesterday's discharge summaries out of Epic, in one table.

Every morning, for each department's discharge work queue:

1. ``plan_batches`` decides how many agent runs each department needs (one per waiting discharge).
2. ``extract_discharges`` is mapped over those batches (dynamic task mapping): each mapped task
   sends one bulk request for identical runs, on machines that are in BOTH the customer's pool and
   the "Has Epic EHR" pool (``pool_ids`` is an intersection), and waits for all of them while
   deferred. The Epic credentials are sensitive inputs read from the Airflow Variables
   ``cyberdesk_epic_username`` and ``cyberdesk_epic_password`` at run time (or a secrets backend);
   they never appear in the DAG code, in rendered templates, in XCom or in the task logs.
3. ``collect_table`` merges every run's outputs into one CSV table in object storage.
"""

# At DAG-definition time TaskFlow calls and operator arguments receive XComArgs, which Airflow
# resolves to the annotated values when the tasks run; mypy cannot see that substitution.
# mypy: disable-error-code="arg-type,index"

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, task
from cyberdesk_example_settings import CONN_ID, POLL_INTERVAL, lookup, pool_list

from cyberdesk_airflow.operators import CyberdeskBulkRunOperator

#: Discharge work queues to drain and how many patients each holds today. In production this
#: would come from a query against the EHR's reporting database.
DEPARTMENT_QUEUES: dict[str, int] = {"CARDIOLOGY": 3, "ONCOLOGY": 2, "ORTHOPEDICS": 2}

TABLE_COLUMNS = ["department", "report_date", "encounter_ref", "documents_exported", "machine"]


with DAG(
    dag_id="cyberdesk_bulk_patient_extraction",
    description="Extract discharge summaries from Epic with parallel Cyberdesk runs",
    schedule="0 5 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["cyberdesk", "healthcare", "example"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def settings(ds: str | None = None) -> dict[str, Any]:
        """Workflow, pools (customer AND Epic) and report date of this run."""
        storage = lookup("examples_storage").rstrip("/")
        return {
            "workflow": lookup("ehr_extract_workflow_id"),
            "pool_ids": pool_list("customer_pool_id", "ehr_pool_id"),
            "table_path": f"{storage}/bulk_patient_extraction/discharges_{ds}.csv",
        }

    @task
    def plan_batches(ds: str | None = None) -> list[dict[str, Any]]:
        """One bulk request per department: as many runs as discharges wait in its queue."""
        return [
            {"count": waiting, "input_values": {"department": name, "report_date": ds}}
            for name, waiting in DEPARTMENT_QUEUES.items()
            if waiting > 0
        ]

    config = settings()

    extract_discharges = CyberdeskBulkRunOperator.partial(
        task_id="extract_discharges",
        cyberdesk_conn_id=CONN_ID,
        workflow_id=config["workflow"],
        pool_ids=config["pool_ids"],
        sensitive_input_variables={
            "epic_username": "cyberdesk_epic_username",
            "epic_password": "cyberdesk_epic_password",
        },
        fail_on="any",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    ).expand_kwargs(plan_batches())

    @task
    def collect_table(summaries: list[dict[str, Any]], table_path: str) -> dict[str, Any]:
        """Write one row per extracted discharge to a CSV table; return its location and size."""
        rows = [
            {column: output.get(column) for column in TABLE_COLUMNS}
            for summary in summaries
            for output in summary["outputs"].values()
        ]
        rows.sort(key=lambda row: (row["department"], row["encounter_ref"]))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        target = ObjectStoragePath(table_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buffer.getvalue())
        return {"path": str(target), "rows": len(rows)}

    collect_table(extract_discharges.output, config["table_path"])
