"""The flagship DAG end to end on the emulator: chain, downloads, validation."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DAG_ID = "cyberdesk_monthly_financial_reporting"
OCTOBER_RUN = datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_closes_last_month_and_downloads_the_files(
    dagbag: Any, run_dag: Any, xcom: Any, ti_states: Any, storage: Path, client: Any
) -> None:
    dr = run_dag(dagbag.get_dag(DAG_ID), logical_date=OCTOBER_RUN)
    assert str(dr.state) == "success", ti_states(dr)
    outputs = xcom(dr, "close_the_books")
    assert outputs["export"]["period"] == "2026-10"
    assert outputs["import"]["batch_id"] == "CONS-2026-10-001"
    folder = storage / "monthly_financial_reporting" / "2026-10"
    assert sorted(p.name for p in folder.iterdir()) == [
        "journal_import_2026-10.csv",
        "posting_report_2026-10.txt",
        "trial_balance_2026-10.csv",
    ]
    checked = xcom(dr, "validate_totals")
    assert checked["total_debits"] == checked["total_credits"] == "1966562.80"
    run_ids = xcom(dr, "close_the_books", key="run_ids")
    sessions = {client.runs.get(run_id).session_id for run_id in run_ids}
    assert len(sessions) == 1
