"""The flagship flow end to end on the emulator: chain, downloads, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_closes_the_month_and_downloads_the_files(cyberdesk_env: Path, client: Any) -> None:
    from monthly_financial_reporting import monthly_financial_reporting

    result = monthly_financial_reporting(month="2026-10")
    assert result["report"]["total_debits"] == result["report"]["total_credits"] == "1966562.80"
    folder = cyberdesk_env / "monthly_financial_reporting" / "2026-10"
    assert sorted(p.name for p in folder.iterdir()) == [
        "journal_import_2026-10.csv",
        "posting_report_2026-10.txt",
        "trial_balance_2026-10.csv",
    ]
    sessions = {client.runs.get(run_id).session_id for run_id in result["run_ids"]}
    assert sessions == {result["session_id"]}
    # What month-end cost: the chain's three runs, their agent steps summed.
    assert result["usage"]["runs"] == 3
    assert result["usage"]["agentic_steps"] > 0
