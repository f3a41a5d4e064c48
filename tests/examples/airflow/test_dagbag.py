"""Every example DAG parses cleanly and its settings defaults match the emulator seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXPECTED = {
    "cyberdesk_monthly_financial_reporting",
    "cyberdesk_bulk_patient_extraction",
    "cyberdesk_adhoc_portal_session",
}


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= EXPECTED


def test_flagship_is_monthly_and_validates_after_downloading(dagbag: Any) -> None:
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dagbag.dags["cyberdesk_monthly_financial_reporting"]
    # Data intervals, so the run on the 1st closes the month that just ended.
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "0 0 1 * *"
    assert dag.get_task("validate_totals").upstream_task_ids == {
        "close_the_books",
        "download_exports",
    }


def test_secrets_are_not_in_the_dag_files() -> None:
    folder = Path(__file__).resolve().parents[3] / "example_dags" / "airflow"
    for path in folder.glob("*.py"):
        assert "sensitive_input_values=" not in path.read_text(), path


def test_setting_defaults_are_the_seed_ids() -> None:
    from cyberdesk_example_settings import SEED_DEFAULTS

    root = Path(__file__).resolve().parents[3]
    seed = yaml.safe_load((root / "example_dags" / "emulator_seed.yaml").read_text())
    seeded = {item["id"] for item in seed["workflows"] + seed["pools"]}
    ids = {value for key, value in SEED_DEFAULTS.items() if key.endswith("_id")}
    assert ids <= seeded
