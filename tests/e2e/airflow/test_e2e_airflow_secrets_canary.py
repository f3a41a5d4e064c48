"""Secrets canary through the real Airflow services: no secret is written anywhere.

Random canaries serve as the API key (of a dedicated emulator organization, in a connection the
test stores in the metadata DB through the REST API) and as sensitive inputs: literal
``sensitive_input_values`` the DAG reads from the services' environment, an Airflow Variable,
chain shared and per-step secrets and bulk secrets; in a deferred run (the triggerer waits), a
run waiting in the worker, a deferred chain and a bulk batch. The simulated agent returns each
secret's SHA-256, proving the emulator received it. Then no canary may appear in any file under
AIRFLOW_HOME (task, trigger and dag-processor logs, each service's stdout/stderr, the SQLite file
with its free pages), any table of the metadata DB, any trigger row (decrypted) seen while the
tasks were deferred, the emulator's request log, the session's temp folder and any temp file
written since the services started, or the test's captured output.

A non-secret marker goes through the same channels (DAG run ``conf``, a rendered input, a task
that logs it and leaves a temp file, the emulator's log) and must be found in each of them, so
the search is proved able to see a leak where a secret could land.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import pytest
from airflow_api import AirflowApi
from airflow_canary import (
    DAG_ID,
    SessionSecrets,
    canary_dag_run,
    find_markers,
    read_trigger_rows,
)
from airflow_stack import AirflowStack

from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]


def test_no_canary_leaks_from_a_dag_run_through_the_real_services(
    airflow_stack: AirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    e2e_emulator_log: Path,
    e2e_canary_secrets: SessionSecrets,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    read_triggers = partial(
        read_trigger_rows,
        airflow_stack.home / "airflow.db",
        airflow_stack.env["AIRFLOW__CORE__FERNET_KEY"],
    )
    with canary_dag_run(
        airflow_stack,
        airflow_api,
        e2e_emulator,
        e2e_canary_secrets,
        read_triggers=read_triggers,
    ) as run:
        # The marker also goes through the emulator's log (its request log names routes only).
        logging.getLogger("cyberdesk_emulator").info("planted marker: %s", run.planted)
        printed = capfd.readouterr()
        found = find_markers(
            [*run.canaries.values(), run.planted],
            trees=[airflow_stack.home, e2e_emulator_log, tmp_path_factory.getbasetemp()],
            databases=[airflow_stack.home / "airflow.db"],
            temp_since=e2e_canary_secrets.created_at,
            texts={
                "captured output": printed.out + printed.err,
                "captured log records": caplog.text,
                **{f"trigger row {tid}": text for tid, text in run.trigger_rows.items()},
            },
        )

    # Self-check: the search sees the marker wherever the DAG run put it.
    home = airflow_stack.home
    plant_log = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run.run_id}" / "task_id=plant"
    where = found[run.planted]
    expected = {
        f"file:{e2e_emulator_log}",
        "table:airflow.db.dag_run",
        "table:airflow.db.rendered_task_instance_fields",
        "table:airflow.db.xcom",
        "text:captured log records",
    }
    assert expected <= where, sorted(where)
    assert any(place.startswith(f"file:{plant_log}/") for place in where), sorted(where)
    # The SQLite bytes: the main file or its write-ahead log, wherever the pages are right now.
    assert any(place.startswith(f"file:{home / 'airflow.db'}") for place in where), sorted(where)
    # The services' own output (the LocalExecutor's task supervisors write to the scheduler's).
    assert any(place.startswith(f"file:{home / 'service-logs'}/") for place in where), sorted(where)
    assert {f"file:{path}" for path in run.planted_files} <= where, (
        run.planted_files,
        sorted(where),
    )
    assert run.planted_files, "the plant task left no temp file"

    # No secret anywhere.
    leaks = {name: sorted(found[c]) for name, c in run.canaries.items() if found[c]}
    assert leaks == {}
