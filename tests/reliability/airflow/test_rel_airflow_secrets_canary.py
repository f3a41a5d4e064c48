"""Secrets canary through a full Airflow pipeline (run in both modes, chain, bulk).

Random canaries are the API key of a dedicated emulator organization and the sensitive inputs
(literal values and one read from an Airflow Variable). The simulated agent proves it received
each secret by returning its SHA-256; afterwards no canary may appear anywhere Airflow or the
emulator wrote: any file under AIRFLOW_HOME (logs, the SQLite DB file), every table of the
metadata DB (xcom, trigger, rendered_task_instance_fields, task_instance, ...), the emulator's
request log and admin view, the test's temp folder, and everything printed or logged.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from rel_airflow_env import HOME, POLL, connection_json, new_dag
from reliability_support import canaries_in_tables, dump_sqlite, new_canary, scan_files

from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator

CANARY_WORKFLOW = "c0c0c0c0-0000-4000-8000-000000000001"
CONN_ID = "cyberdesk_canary"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.slow
def test_no_canary_survives_an_airflow_pipeline(
    emulator: Any,
    emulator_log: Path,
    run_dag: Any,
    xcom: Any,
    ti_states: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level("DEBUG")
    key = new_canary("airflow-api-key")
    secrets = {name: new_canary(f"airflow-{name}") for name in ("run", "var", "shared", "step")}
    secrets["bulk"] = new_canary("airflow-bulk")
    emulator.admin.seed(
        {
            "organizations": [
                {
                    "name": "canary-org",
                    "api_keys": [key],
                    "workflows": [
                        {
                            "id": CANARY_WORKFLOW,
                            "behavior": {
                                "duration": 20,
                                "output": {
                                    "pw_sha": "{{ secrets.pw | sha256 }}",
                                    "pw_echo": "{{ secrets.pw }}",
                                    "n": "{{ inputs.n }}",
                                },
                            },
                        }
                    ],
                    "machines": [{"name": f"canary-desk-{i}"} for i in range(4)],
                }
            ]
        }
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_json(emulator.url, key))
    monkeypatch.setenv("AIRFLOW_VAR_CANARY_PASSWORD", secrets["var"])
    common: dict[str, Any] = {"cyberdesk_conn_id": CONN_ID, "poll_interval": POLL, "retries": 0}
    with new_dag("canary") as dag:
        CyberdeskRunOperator(
            task_id="run_deferred",
            workflow_id=CANARY_WORKFLOW,
            input_values={"n": 1},
            sensitive_input_values={"pw": secrets["run"]},
            deferrable=True,
            **common,
        )
        CyberdeskRunOperator(
            task_id="run_worker",
            workflow_id=CANARY_WORKFLOW,
            input_values={"n": 2},
            sensitive_input_variables={"pw": "canary_password"},
            deferrable=False,
            **common,
        )
        CyberdeskChainOperator(
            task_id="chain",
            steps=[
                {"workflow_id": CANARY_WORKFLOW, "session_alias": "first", "inputs": {"n": 3}},
                {
                    "workflow_id": CANARY_WORKFLOW,
                    "session_alias": "second",
                    "inputs": {"n": {"$ref": "first.outputs.n"}},
                },
            ],
            shared_sensitive_inputs={"pw": secrets["shared"]},
            step_sensitive_inputs={"second": {"pw": secrets["step"]}},
            deferrable=True,
            **common,
        )
        CyberdeskBulkRunOperator(
            task_id="bulk",
            workflow_id=CANARY_WORKFLOW,
            count=3,
            input_values={"n": 4},
            sensitive_input_values={"pw": secrets["bulk"]},
            deferrable=True,
            **common,
        )
    dr = run_dag(dag)
    assert dr.state == "success", ti_states(dr)

    # The secrets really reached the simulated agent (it saw them, and only hashed them).
    assert xcom(dr, "run_deferred")["pw_sha"] == _sha(secrets["run"])
    assert xcom(dr, "run_worker")["pw_sha"] == _sha(secrets["var"])
    chain = xcom(dr, "chain")
    chain_text = json.dumps(chain, default=str)
    assert _sha(secrets["shared"]) in chain_text
    assert _sha(secrets["step"]) in chain_text
    assert _sha(secrets["bulk"]) in json.dumps(xcom(dr, "bulk"), default=str)
    assert xcom(dr, "run_deferred")["pw_echo"] == "********"

    needles = [key, *secrets.values()]
    printed = capfd.readouterr()
    leaks: dict[str, Any] = {
        "files": scan_files([HOME, emulator_log, tmp_path], needles),
        "metadata_db": canaries_in_tables(dump_sqlite(HOME / "airflow.db"), needles),
        "emulator_admin": [
            n
            for n in needles
            if n in json.dumps(emulator.admin.stats()) + json.dumps(emulator.admin.get_faults())
        ],
        "output": [n for n in needles if n in printed.out + printed.err + caplog.text],
    }
    assert leaks == {"files": {}, "metadata_db": {}, "emulator_admin": [], "output": []}
    # The scans looked at real data: the DB holds this DAG's XComs and the logs its tasks.
    tables = dump_sqlite(HOME / "airflow.db")
    assert dr.dag_id in tables["xcom"]
    assert _sha(secrets["run"]) in tables["xcom"]
    assert dr.dag_id in tables["rendered_task_instance_fields"]
    assert os.path.getsize(emulator_log) > 0
    # dag.test() sends task logs to the console (scanned above as captured output).
    assert "Cyberdesk run" in printed.out + printed.err + caplog.text
