"""The bulk-extraction and ad-hoc-session DAGs end to end on the emulator."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

EPIC_PASSWORD = "epic-pw-8c1f0e"


@pytest.fixture
def epic_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Epic credentials as Airflow Variables (here through AIRFLOW_VAR_* variables)."""
    monkeypatch.setenv("AIRFLOW_VAR_CYBERDESK_EPIC_USERNAME", "svc-extract")
    monkeypatch.setenv("AIRFLOW_VAR_CYBERDESK_EPIC_PASSWORD", EPIC_PASSWORD)


def test_bulk_extraction_fills_one_table_from_the_pool_intersection(
    dagbag: Any,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    storage: Path,
    client: Any,
    printed: Any,
    epic_credentials: None,
) -> None:
    dr = run_dag(dagbag.get_dag("cyberdesk_bulk_patient_extraction"))
    assert str(dr.state) == "success", ti_states(dr)
    table = xcom(dr, "collect_table")
    assert table["rows"] == 7
    path = Path(table["path"].removeprefix("file://"))
    rows = list(csv.DictReader(path.open()))
    assert {row["department"] for row in rows} == {"CARDIOLOGY", "ONCOLOGY", "ORTHOPEDICS"}
    # Only machines in both the customer pool and the Epic pool ran the extraction.
    assert {row["machine"] for row in rows} <= {
        "northwind-ehr-01",
        "northwind-ehr-02",
        "northwind-ehr-03",
    }
    summary = xcom(dr, "extract_discharges", map_index=0)
    run = client.runs.get(summary["run_ids"][0])
    assert run.output_data["signed_in"] is True
    assert sorted(run.pool_ids) == [
        "9d2c4a7e-2b6f-4f0a-9c11-000000000002",
        "9d2c4a7e-2b6f-4f0a-9c11-000000000003",
    ]
    assert EPIC_PASSWORD not in path.read_text()
    assert EPIC_PASSWORD not in str(summary)
    logs = printed()
    # Positive control: the task logs were captured.
    assert "Cyberdesk runs of workflow" in logs
    assert EPIC_PASSWORD not in logs


def test_adhoc_session_runs_the_chosen_workflow_and_releases_the_machine(
    dagbag: Any, run_dag: Any, xcom: Any, ti_states: Any, client: Any
) -> None:
    dr = run_dag(dagbag.get_dag("cyberdesk_adhoc_portal_session"))
    assert str(dr.state) == "success", ti_states(dr)
    assert xcom(dr, "work") == {
        "action": "submit_claims",
        "claims_submitted": 7,
        "confirmation": "SUB-20481",
    }
    session_id = xcom(dr, "login", key="session_id")
    runs = [client.runs.get(xcom(dr, task, key="run_id")) for task in ("login", "work", "logout")]
    assert {run.session_id for run in runs} == {session_id}
    assert len({run.machine_id for run in runs}) == 1
    machine = client.machines.get(runs[0].machine_id)
    assert getattr(machine, "reserved_session_id", None) is None


def test_flagship_fails_loudly_when_posted_totals_differ(
    dagbag: Any, run_dag: Any, xcom: Any, ti_states: Any, storage: Path, emulator: Any
) -> None:
    import yaml

    seed = yaml.safe_load(
        (Path(__file__).resolve().parents[3] / "example_dags/emulator_seed.yaml").read_text()
    )
    importer = next(w for w in seed["workflows"] if w["name"] == "ERP journal import")
    wrong = {**importer["behavior"], "output": {**importer["behavior"]["output"]}}
    wrong["output"]["total_credits"] = 1966000.00
    emulator.admin.set_workflow_behavior(importer["id"], wrong)
    try:
        dr = run_dag(dagbag.get_dag("cyberdesk_monthly_financial_reporting"))
    finally:
        emulator.admin.set_workflow_behavior(importer["id"], importer["behavior"])
    states = ti_states(dr)
    assert str(dr.state) == "failed"
    assert states[("validate_totals", -1)] == "failed"
    assert states[("close_the_books", -1)] == "success"
    assert xcom(dr, "validate_totals") is None
