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

import hashlib
import json
import logging
import re
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import pytest
from airflow_api import FINISHED_RUN_STATES, AirflowApi
from airflow_canary import SessionSecrets, find_markers, new_canary, read_trigger_rows
from airflow_stack import AirflowStack, poll_until

from cyberdesk_emulator import EmulatorServer

pytestmark = pytest.mark.e2e
pytest_plugins = ["airflow_e2e_plugin"]

DAG_ID = "e2e_cyberdesk_canary"
#: Names used by the DAG file (``dags/e2e_cyberdesk_canary.py``).
CONN_ID = "cyberdesk_canary"
PIN_VARIABLE = "canary_erp_pin"
PLANTED_FILE_PREFIX = "cyberdesk-e2e-planted-"
DEFERRED_TASKS = ("run_deferred", "chain")
MASK = "********"
#: 4 s per run at the suite's time scale: long enough to be seen deferred.
BEHAVIOR = {
    "duration": 40,
    "output": {
        "n": "{{ inputs.n }}",
        "tag": "{{ inputs.tag }}",
        "pw_sha": "{{ secrets.pw | sha256 }}",
        "pin_sha": "{{ secrets.pin | sha256 }}",
        # A careless agent echoing a secret: the emulator masks it.
        "pw_echo": "{{ secrets.pw }}",
    },
}


def sha(value: str | None) -> str:
    """What the emulator's ``sha256`` filter returns for a secret (``null`` when absent)."""
    raw = value if value is not None else json.dumps(None)
    return hashlib.sha256(raw.encode()).hexdigest()


def watch_run(
    stack: AirflowStack, api: AirflowApi, run_id: str, timeout: float
) -> tuple[str, dict[str, set[str | None]], dict[int, str]]:
    """Poll the DAG run until it finishes.

    Returns its state, every state each task was seen in, and the decrypted trigger rows seen
    meanwhile (Airflow deletes a trigger's row once it has fired).
    """
    seen: dict[str, set[str | None]] = {}
    triggers: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for (task_id, _), state in api.states(DAG_ID, run_id).items():
            seen.setdefault(task_id, set()).add(state)
        triggers.update(
            read_trigger_rows(stack.home / "airflow.db", stack.env["AIRFLOW__CORE__FERNET_KEY"])
        )
        state = str(api.dag_run(DAG_ID, run_id)["state"])
        if state in FINISHED_RUN_STATES:
            return state, seen, triggers
        time.sleep(0.25)
    raise AssertionError(f"DAG run {run_id} did not finish in {timeout}s; task states: {seen}")


def planted_temp_files(marker: str) -> list[Path]:
    """Temp files the ``plant`` task of this run left (another session may plant its own)."""
    found = []
    for path in Path(tempfile.gettempdir()).glob(f"{PLANTED_FILE_PREFIX}*"):
        try:
            if path.read_text(errors="replace") == marker:
                found.append(path)
        except OSError:
            continue
    return found


def trigger_fired(stack: AirflowStack, run_id: str, task_id: str) -> bool:
    """The triggerer logged the event of the task's first try."""
    output = stack.trigger_output(DAG_ID, run_id, task_id)
    return re.search(rf"Trigger fired event.*{task_id}/-1/1 \(ID", output) is not None


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
    api_key = new_canary("e2e-api-key")
    secrets = {**e2e_canary_secrets.values, "variable": new_canary("e2e-variable")}
    planted = new_canary("e2e-planted")
    workflow_id = str(uuid.uuid4())
    e2e_emulator.admin.seed(
        {
            "organizations": [
                {
                    "name": f"canary-{workflow_id[:8]}",
                    "api_keys": [api_key],
                    "workflows": [{"id": workflow_id, "name": "erp-login", "behavior": BEHAVIOR}],
                    "machines": [{"name": f"canary-desk-{index}"} for index in range(6)],
                }
            ]
        }
    )
    airflow_api.create_connection(
        CONN_ID, conn_type="cyberdesk", host=e2e_emulator.url, password=api_key
    )
    airflow_api.create_variable(PIN_VARIABLE, secrets["variable"])
    try:
        run_id = airflow_api.trigger(DAG_ID, {"workflow_id": workflow_id, "planted": planted})
        state, seen, trigger_rows = watch_run(airflow_stack, airflow_api, run_id, timeout=150)
        assert state == "success", (seen, airflow_api.states(DAG_ID, run_id))

        # Both waiting modes ran: two tasks deferred to the triggerer, two waited in the worker.
        for task_id in DEFERRED_TASKS:
            assert "deferred" in seen[task_id], seen
        assert "deferred" not in seen["run_worker"] | seen["bulk"], seen

        # Every secret reached the simulated agent, which could only hash it (or see it masked).
        # The workflow belongs to the canary organization: only the canary API key reaches it.
        deferred = airflow_api.xcom(DAG_ID, run_id, "run_deferred")
        assert deferred["pw_sha"] == sha(secrets["run"])
        assert deferred["pin_sha"] == sha(secrets["variable"])
        assert deferred["pw_echo"] == MASK
        worker = airflow_api.xcom(DAG_ID, run_id, "run_worker")
        assert (worker["pw_sha"], worker["tag"]) == (sha(secrets["worker"]), planted)
        chain = airflow_api.xcom(DAG_ID, run_id, "chain")
        assert chain["first"]["pw_sha"] == chain["second"]["pw_sha"] == sha(secrets["shared"])
        assert (chain["first"]["pin_sha"], chain["second"]["pin_sha"]) == (
            sha(None),
            sha(secrets["step"]),
        )
        bulk = json.dumps(airflow_api.xcom(DAG_ID, run_id, "bulk"))
        assert bulk.count(sha(secrets["bulk"])) == 2, bulk

        # The triggerer wrote its lines about the two deferred tasks (its last lines can land
        # in its own log shortly after the task resumed).
        for task_id in DEFERRED_TASKS:
            poll_until(
                partial(trigger_fired, airflow_stack, run_id, task_id),
                timeout=15,
                what=f"the triggerer to log the event of {task_id}",
            )
        # The trigger rows were read and decrypted: they name the runs they wait for.
        deferred_run_id = airflow_api.xcom(DAG_ID, run_id, "run_deferred", "run_id")
        chain_run_ids = airflow_api.xcom(DAG_ID, run_id, "chain", "run_ids")
        rows = "\n".join(trigger_rows.values())
        for cyberdesk_run_id in [deferred_run_id, *chain_run_ids]:
            assert cyberdesk_run_id in rows, trigger_rows

        # The marker also goes through the emulator's log (its request log names routes only).
        logging.getLogger("cyberdesk_emulator").info("planted marker: %s", planted)
        printed = capfd.readouterr()
        canaries = {**secrets, "api_key": api_key}
        found = find_markers(
            [*canaries.values(), planted],
            trees=[airflow_stack.home, e2e_emulator_log, tmp_path_factory.getbasetemp()],
            databases=[airflow_stack.home / "airflow.db"],
            temp_since=e2e_canary_secrets.created_at,
            texts={
                "captured output": printed.out + printed.err,
                "captured log records": caplog.text,
                **{f"trigger row {tid}": text for tid, text in trigger_rows.items()},
            },
        )
    finally:
        planted_files = planted_temp_files(planted)
        for path in planted_files:
            path.unlink(missing_ok=True)

    # Self-check: the search sees the marker wherever the DAG run put it.
    home = airflow_stack.home
    plant_log = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=plant"
    where = found[planted]
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
    assert {f"file:{path}" for path in planted_files} <= where, (planted_files, sorted(where))
    assert planted_files, "the plant task left no temp file"

    # No secret anywhere.
    leaks = {name: sorted(found[canary]) for name, canary in canaries.items() if found[canary]}
    assert leaks == {}
