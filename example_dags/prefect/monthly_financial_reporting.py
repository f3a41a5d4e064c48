"""Monthly financial reporting: close last month's books through the ERP and Excel desktops.

One Cyberdesk session on one finance desktop runs three workflows as a chain: export the trial
balance from the ERP (a CSV file and its totals), transform it in Excel into a journal import (its
inputs are the export's outputs, passed with ``$ref``), and import and post the journal in the ERP
(returns the posted totals). The flow then downloads every exported file (to a local folder, or to
any Prefect ``WritableFileSystem`` block such as ``LocalFileSystem`` or an S3 bucket), re-adds the
CSV files, and fails loudly unless debits equal credits and the posted totals match the export.
It logs (and returns) what the month-end cost in agent steps, summed over the chain's runs.

Cancelling the flow run cancels the Cyberdesk runs it started.

    python monthly_financial_reporting.py                    # close last month once
    python monthly_financial_reporting.py --month 2026-10    # close a given month once
    python monthly_financial_reporting.py --serve            # serve: 06:00 UTC on every 1st
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cyberdesk_example_settings import (
    load_credentials,
    lookup,
    poll_interval,
    pool_list,
    storage_folder,
)
from prefect import flow, get_run_logger, task, unmapped
from prefect.blocks.core import Block
from prefect.filesystems import WritableFileSystem
from prefect.utilities.asyncutils import run_coro_as_sync

from cyberdesk_prefect import (
    CyberdeskAttachmentInfo,
    cancel_cyberdesk_runs_on_cancellation,
    download_cyberdesk_attachments,
    run_cyberdesk_chain,
)

#: Cron schedule of the served deployment: 06:00 UTC on the 1st, closing the month just ended.
MONTHLY_CRON = "0 6 1 * *"


class TotalsMismatchError(ValueError):
    """The books do not balance, or what was posted differs from what was exported."""


def previous_month(today: date | None = None) -> str:
    """``YYYY-MM`` of the month before ``today``."""
    first = (today or date.today()).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


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


@task
def validate_totals(
    outputs: dict[str, Any],
    downloaded: list[list[CyberdeskAttachmentInfo]],
    filesystem: WritableFileSystem | None = None,
) -> dict[str, Any]:
    """Fail the flow run unless the books balance and the posted totals match the export."""
    files: dict[str, str] = {}
    for info in (item for batch in downloaded for item in batch):
        if info.local_path is None:
            raise TotalsMismatchError(f"file {info.filename} was not downloaded")
        if filesystem is None:
            files[info.filename] = Path(info.local_path).read_text(encoding="utf-8")
        else:
            content: Any = filesystem.read_path(info.local_path)
            if inspect.iscoroutine(content):
                content = run_coro_as_sync(content)
            files[info.filename] = bytes(content).decode("utf-8")
    return check_totals(outputs, files)


def chain_steps() -> list[dict[str, Any]]:
    """Export -> Excel transform -> import, each step reading the previous one's outputs."""
    return [
        {"workflow_id": lookup("erp_export_workflow_id"), "session_alias": "export"},
        {
            "workflow_id": lookup("excel_transform_workflow_id"),
            "session_alias": "transform",
            "inputs": {
                "source_file": {"$ref": "export.outputs.export_file"},
                "expected_debits": {"$ref": "export.outputs.total_debits"},
                "expected_credits": {"$ref": "export.outputs.total_credits"},
            },
        },
        {
            "workflow_id": lookup("erp_import_workflow_id"),
            "session_alias": "import",
            "inputs": {
                "import_file": {"$ref": "transform.outputs.import_file"},
                "debits": {"$ref": "transform.outputs.total_debits"},
                "credits": {"$ref": "transform.outputs.total_credits"},
            },
        },
    ]


@flow(
    name="monthly-financial-reporting",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
def monthly_financial_reporting(
    month: str | None = None,
    download_folder: str | None = None,
    storage_block: str | None = None,
) -> dict[str, Any]:
    """Close ``month`` (``YYYY-MM``; default: the month before today) and validate the totals.

    Args:
        month: Period to close.
        download_folder: Local folder for the exported files (default: under the
            ``examples_storage`` setting).
        storage_block: Slug of a ``WritableFileSystem`` block to store the files in instead,
            e.g. ``local-file-system/month-end`` or ``s3-bucket/finance``.
    """
    period = month or previous_month()
    credentials = load_credentials()
    chain = run_cyberdesk_chain(
        credentials,
        steps=chain_steps(),
        shared_inputs={"month": period, "company": lookup("company")},
        pool_ids=pool_list("finance_pool_id"),
        poll_interval=poll_interval(),
        timeout=3 * 3600,
    )
    filesystem = Block.load(storage_block) if storage_block else None
    if filesystem is not None and not isinstance(filesystem, WritableFileSystem):
        raise TypeError(f"block {storage_block!r} is not a WritableFileSystem")
    folder = download_folder or str(storage_folder("monthly_financial_reporting", period))
    downloaded = download_cyberdesk_attachments.map(
        unmapped(credentials),
        chain.run_ids,
        destination=unmapped(None if filesystem else folder),
        filesystem=unmapped(filesystem),
        folder=unmapped(f"monthly_financial_reporting/{period}"),
    )
    # .result() re-raises the first failed download, so it fails the flow run.
    files = downloaded.result()
    report = validate_totals(chain.outputs, files, filesystem)
    get_run_logger().info("Month-end %s cost %s", period, chain.usage.describe())
    return {
        "report": report,
        "usage": chain.usage.model_dump(),
        "session_id": chain.session_id,
        "run_ids": chain.run_ids,
        "files": [info.model_dump() for batch in files for info in batch],
    }


def main() -> None:
    """Run once, or serve the flow on the monthly schedule."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", help="period to close, YYYY-MM (default: last month)")
    parser.add_argument("--serve", action="store_true", help="serve on the monthly schedule")
    args = parser.parse_args()
    if args.serve:
        monthly_financial_reporting.serve(name="monthly-close", cron=MONTHLY_CRON)
    else:
        result = monthly_financial_reporting(month=args.month)
        usage = result["usage"]
        print(result)
        print(
            f"Month-end cost: {usage['agentic_steps']} agent steps "
            f"({usage['cached_steps']} cached) over {usage['runs']} runs"
        )


if __name__ == "__main__":
    main()
