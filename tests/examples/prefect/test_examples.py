"""Importability, bulk extraction, ad-hoc session, and the flagship's loud failure."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
EPIC_PASSWORD = "epic-pw-8c1f0e"


@pytest.mark.parametrize(
    ("module", "flow_name"),
    [
        ("monthly_financial_reporting", "monthly-financial-reporting"),
        ("bulk_patient_extraction", "bulk-patient-extraction"),
        ("adhoc_portal_session", "adhoc-portal-session"),
    ],
)
def test_flows_import(module: str, flow_name: str) -> None:
    from prefect import Flow

    flows = [v for v in vars(importlib.import_module(module)).values() if isinstance(v, Flow)]
    assert [f.name for f in flows] == [flow_name]


def test_setting_defaults_are_the_seed_ids() -> None:
    from cyberdesk_example_settings import SEED_DEFAULTS

    seed = yaml.safe_load((ROOT / "example_dags" / "emulator_seed.yaml").read_text())
    seeded = {item["id"] for item in seed["workflows"] + seed["pools"]}
    assert {v for k, v in SEED_DEFAULTS.items() if k.endswith("_id")} <= seeded


def test_bulk_extraction_fills_one_table_from_the_pool_intersection(
    cyberdesk_env: Path, client: Any
) -> None:
    from bulk_patient_extraction import bulk_patient_extraction
    from prefect.blocks.system import Secret

    Secret(value={"epic_username": "svc-extract", "epic_password": EPIC_PASSWORD}).save(
        "epic-credentials", overwrite=True
    )
    result = bulk_patient_extraction(report_date="2026-11-27")
    assert result["rows"] == 7
    text = Path(result["path"]).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert {row["department"] for row in rows} == {"CARDIOLOGY", "ONCOLOGY", "ORTHOPEDICS"}
    assert {row["machine"] for row in rows} <= {
        "northwind-ehr-01",
        "northwind-ehr-02",
        "northwind-ehr-03",
    }
    assert EPIC_PASSWORD not in text
    run = client.runs.get(rows[0]["encounter_ref"])
    assert run.output_data["signed_in"] is True


def test_bulk_extraction_refuses_plain_secrets() -> None:
    from bulk_patient_extraction import bulk_patient_extraction

    from cyberdesk_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="Secret block"):
        bulk_patient_extraction(report_date="2026-11-27", epic_secret_block="Not A Block!")


def test_adhoc_session_runs_the_chosen_workflow_and_releases_the_machine(client: Any) -> None:
    from adhoc_portal_session import adhoc_portal_session

    result = adhoc_portal_session()
    assert result["work"]["action"] == "submit_claims"
    runs = [client.runs.get(run_id) for run_id in result["run_ids"]]
    assert {run.session_id for run in runs} == {result["session_id"]}
    assert len({run.machine_id for run in runs}) == 1
    assert getattr(client.machines.get(runs[0].machine_id), "reserved_session_id", None) is None


def test_adhoc_session_downloads_remittances_when_no_claims_wait(
    emulator: Any, client: Any
) -> None:
    from adhoc_portal_session import adhoc_portal_session

    seed = yaml.safe_load((ROOT / "example_dags" / "emulator_seed.yaml").read_text())
    login = next(w for w in seed["workflows"] if w["name"] == "Payer portal login")
    quiet = {**login["behavior"], "output": {**login["behavior"]["output"], "pending_claims": 0}}
    emulator.admin.set_workflow_behavior(login["id"], quiet)
    try:
        result = adhoc_portal_session()
    finally:
        emulator.admin.set_workflow_behavior(login["id"], login["behavior"])
    assert result["work"]["action"] == "download_remittances"
    assert sorted(Path(p).name for p in result["files"]) == [
        "remittance_advice_1.835",
        "remittance_advice_2.835",
    ]


def test_flagship_fails_loudly_when_posted_totals_differ(emulator: Any) -> None:
    from monthly_financial_reporting import TotalsMismatchError, monthly_financial_reporting

    seed = yaml.safe_load((ROOT / "example_dags" / "emulator_seed.yaml").read_text())
    importer = next(w for w in seed["workflows"] if w["name"] == "ERP journal import")
    wrong = {**importer["behavior"], "output": {**importer["behavior"]["output"]}}
    wrong["output"]["total_credits"] = 1966000.00
    emulator.admin.set_workflow_behavior(importer["id"], wrong)
    try:
        with pytest.raises(TotalsMismatchError, match="posted totals"):
            monthly_financial_reporting(month="2026-09")
    finally:
        emulator.admin.set_workflow_behavior(importer["id"], importer["behavior"])
