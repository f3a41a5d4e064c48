"""Bulk patient-data extraction: yesterday's discharge summaries out of Epic, in one table.

For each department's discharge work queue, one bulk request starts as many identical Cyberdesk
runs as discharges are waiting (``bulk_create_cyberdesk_runs.map``), on machines that are in BOTH
the customer's pool and the "Has Epic EHR" pool (``pool_ids`` is an intersection). The batches are
waited for with shared polling (``wait_for_cyberdesk_runs.map``) and every run's outputs are merged
into one CSV table.

The Epic credentials come from a Prefect ``Secret`` block (default name ``epic-credentials``)
holding ``{"epic_username": ..., "epic_password": ...}``: they are passed as sensitive inputs and
never appear in parameters, results, artifacts or logs. Create the block once:

    from prefect.blocks.system import Secret
    Secret(value={"epic_username": "...", "epic_password": "..."}).save("epic-credentials")

    python bulk_patient_extraction.py               # run once for yesterday
    python bulk_patient_extraction.py --serve       # serve daily at 05:00
"""

from __future__ import annotations

import argparse
import csv
from datetime import date, timedelta
from typing import Any

from cyberdesk_example_settings import load_credentials, lookup, poll_interval, pool_list
from cyberdesk_example_settings import storage_folder as storage
from prefect import flow, task, unmapped

from cyberdesk_prefect import (
    CyberdeskRunResult,
    bulk_create_cyberdesk_runs,
    cancel_cyberdesk_runs_on_cancellation,
    wait_for_cyberdesk_runs,
)

#: Discharge work queues to drain and how many patients each holds today. In production this
#: would come from a query against the EHR's reporting database.
DEPARTMENT_QUEUES: dict[str, int] = {"CARDIOLOGY": 3, "ONCOLOGY": 2, "ORTHOPEDICS": 2}

TABLE_COLUMNS = ["department", "report_date", "encounter_ref", "documents_exported", "machine"]


@task
def collect_table(batches: list[list[CyberdeskRunResult]], report_date: str) -> dict[str, Any]:
    """Write one row per extracted discharge to a CSV table; return its location and size."""
    rows = [
        {column: (result.output_data or {}).get(column) for column in TABLE_COLUMNS}
        for batch in batches
        for result in batch
    ]
    rows.sort(key=lambda row: (str(row["department"]), str(row["encounter_ref"])))
    path = storage("bulk_patient_extraction") / f"discharges_{report_date}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {"path": str(path), "rows": len(rows)}


@flow(
    name="bulk-patient-extraction",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
def bulk_patient_extraction(
    report_date: str | None = None,
    epic_secret_block: str = "epic-credentials",  # noqa: S107 - a block name, not a secret
) -> dict[str, Any]:
    """Extract every waiting discharge of ``report_date`` (default: yesterday) into one table.

    Args:
        report_date: ``YYYY-MM-DD`` of the discharges.
        epic_secret_block: Name of the ``Secret`` block with the Epic credentials.
    """
    day = report_date or (date.today() - timedelta(days=1)).isoformat()
    credentials = load_credentials()
    departments = [name for name, waiting in DEPARTMENT_QUEUES.items() if waiting > 0]
    batches = bulk_create_cyberdesk_runs.map(
        unmapped(credentials),
        workflow_id=unmapped(lookup("ehr_extract_workflow_id")),
        count=[DEPARTMENT_QUEUES[name] for name in departments],
        input_values=[{"department": name, "report_date": day} for name in departments],
        sensitive_input_values=unmapped(epic_secret_block),
        pool_ids=unmapped(pool_list("customer_pool_id", "ehr_pool_id")),
    )
    # .result() re-raises the first failure, so a batch that could not be created or did not
    # succeed fails the flow run with its own error.
    finished = wait_for_cyberdesk_runs.map(
        unmapped(credentials),
        batches.result(),
        poll_interval=unmapped(poll_interval()),
        fail_on=unmapped("any"),
    )
    return collect_table(finished.result(), day)


def main() -> None:
    """Run once, or serve the flow every day at 05:00 UTC."""
    parser = argparse.ArgumentParser(description="Bulk patient-data extraction")
    parser.add_argument("--date", help="report date, YYYY-MM-DD (default: yesterday)")
    parser.add_argument("--serve", action="store_true", help="serve daily at 05:00")
    args = parser.parse_args()
    if args.serve:
        bulk_patient_extraction.serve(name="daily-discharges", cron="0 5 * * *")
    else:
        print(bulk_patient_extraction(report_date=args.date))


if __name__ == "__main__":
    main()
