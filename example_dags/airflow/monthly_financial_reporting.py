"""Monthly financial reporting: close last month's books through the ERP and Excel desktops.

Runs on the 1st of every month for the month that just ended (the DAG run's data interval):

1. ``settings`` looks up workflow and pool ids and the month to close.
2. ``close_the_books`` runs three Cyberdesk workflows as one chain, in one session on one finance
   desktop: export the trial balance from the ERP (a CSV file and its totals), transform it in
   Excel into a journal import (its inputs are the export's outputs, passed with ``$ref``), and
   import and post the journal in the ERP (returns the posted totals). The task defers while the
   agents work, so it holds no worker slot.
3. ``download_exports`` (one mapped task per chain step) streams every file the steps exported to
   object storage (``cyberdesk_examples_storage``, a ``file://`` folder by default; any
   ``ObjectStoragePath`` URI such as ``s3://bucket/prefix`` works).
4. ``validate_totals`` re-adds the downloaded files and fails the DAG run loudly unless debits
   equal credits everywhere and the posted totals match the export.
"""

# At DAG-definition time TaskFlow calls and operator arguments receive XComArgs, which Airflow
# resolves to the annotated values when the tasks run; mypy cannot see that substitution.
# mypy: disable-error-code="arg-type,index"

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, XComArg, task
from airflow.timetables.interval import CronDataIntervalTimetable
from cyberdesk_example_settings import CONN_ID, POLL_INTERVAL, lookup, pool_list

from cyberdesk_airflow.operators import CyberdeskChainOperator, CyberdeskDownloadAttachmentsOperator


class TotalsMismatchError(ValueError):
    """The books do not balance, or what was posted differs from what was exported."""


def file_totals(text: str) -> tuple[Decimal, Decimal]:
    """Sum the ``debit`` and ``credit`` columns of a CSV export."""
    debits = credits = Decimal("0")
    for row in csv.DictReader(io.StringIO(text)):
        debits += Decimal(row["debit"])
        credits += Decimal(row["credit"])
    return debits, credits


def check_totals(outputs: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """Compare the chain's reported totals with each other and with the downloaded CSV files.

    ``outputs`` maps step alias to ``output_data``; ``files`` maps file name to its text.
    Returns the checked figures; raises :class:`TotalsMismatchError` listing every problem.
    """
    cents = Decimal("0.01")

    def amount(step: str, field: str) -> Decimal:
        return Decimal(str(outputs[step][field])).quantize(cents)

    export_dr, export_cr = amount("export", "total_debits"), amount("export", "total_credits")
    posted_dr, posted_cr = amount("import", "total_debits"), amount("import", "total_credits")
    problems: list[str] = []
    if export_dr != export_cr:
        problems.append(
            f"trial balance does not balance: debits {export_dr} != credits {export_cr}"
        )
    if (posted_dr, posted_cr) != (export_dr, export_cr):
        problems.append(
            f"posted totals {posted_dr}/{posted_cr} differ from exported {export_dr}/{export_cr}"
        )
    csv_files = {name: text for name, text in files.items() if name.endswith(".csv")}
    if not csv_files:
        problems.append("no CSV file was downloaded to check the totals against")
    for name, text in sorted(csv_files.items()):
        file_dr, file_cr = (value.quantize(cents) for value in file_totals(text))
        if (file_dr, file_cr) != (export_dr, export_cr):
            problems.append(
                f"{name} adds up to {file_dr}/{file_cr}, not the exported {export_dr}/{export_cr}"
            )
    if problems:
        raise TotalsMismatchError("Month-end totals do not reconcile: " + "; ".join(problems))
    return {
        "period": outputs["export"]["period"],
        "total_debits": str(export_dr),
        "total_credits": str(export_cr),
        "posted_batch": outputs["import"]["batch_id"],
        "files_checked": sorted(csv_files),
    }


with DAG(
    dag_id="cyberdesk_monthly_financial_reporting",
    description="Close last month's books through the ERP and Excel with Cyberdesk agents",
    schedule=CronDataIntervalTimetable("@monthly", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["cyberdesk", "finance", "example"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def settings(data_interval_start: datetime | None = None) -> dict[str, Any]:
        """Ids, month and storage folder of this run (Variables, then environment, then seed)."""
        period = (data_interval_start or datetime.now(timezone.utc)).strftime("%Y-%m")
        storage = lookup("examples_storage").rstrip("/")
        return {
            "period": period,
            "company": lookup("company"),
            "export_workflow": lookup("erp_export_workflow_id"),
            "transform_workflow": lookup("excel_transform_workflow_id"),
            "import_workflow": lookup("erp_import_workflow_id"),
            "pool_ids": pool_list("finance_pool_id"),
            "download_folder": f"{storage}/monthly_financial_reporting/{period}/",
        }

    config = settings()

    close_the_books = CyberdeskChainOperator(
        task_id="close_the_books",
        cyberdesk_conn_id=CONN_ID,
        steps=[
            {"workflow_id": config["export_workflow"], "session_alias": "export"},
            {
                "workflow_id": config["transform_workflow"],
                "session_alias": "transform",
                "inputs": {
                    "source_file": {"$ref": "export.outputs.export_file"},
                    "expected_debits": {"$ref": "export.outputs.total_debits"},
                    "expected_credits": {"$ref": "export.outputs.total_credits"},
                },
            },
            {
                "workflow_id": config["import_workflow"],
                "session_alias": "import",
                "inputs": {
                    "import_file": {"$ref": "transform.outputs.import_file"},
                    "debits": {"$ref": "transform.outputs.total_debits"},
                    "credits": {"$ref": "transform.outputs.total_credits"},
                },
            },
        ],
        shared_inputs={"month": config["period"], "company": config["company"]},
        pool_ids=config["pool_ids"],
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=3),
    )

    @task
    def step_runs(run_ids: list[str]) -> list[str]:
        """The chain's run ids, one per step (Airflow maps over return values only)."""
        return run_ids

    download_exports = CyberdeskDownloadAttachmentsOperator.partial(
        task_id="download_exports",
        cyberdesk_conn_id=CONN_ID,
        destination=config["download_folder"],
    ).expand(run_id=step_runs(XComArg(close_the_books, key="run_ids")))

    # Retrying cannot fix a mismatch: it needs a person, so this task fails at once.
    @task(retries=0)
    def validate_totals(
        outputs: dict[str, Any], downloaded: Sequence[list[dict[str, Any]]]
    ) -> dict[str, Any]:
        """Fail the DAG run unless the books balance and the posted totals match the export."""
        # Indexing (rather than iterating) reads exactly one XCom per mapped download.
        batches = [downloaded[index] for index in range(len(downloaded))]
        files = {
            item["filename"]: ObjectStoragePath(item["path"]).read_text()
            for batch in batches
            for item in batch
        }
        return check_totals(outputs, files)

    validate_totals(close_the_books.output, download_exports.output)
