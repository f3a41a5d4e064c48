"""Harness for the Airflow engine tests: a throw-away AIRFLOW_HOME, one migrated SQLite metadata
database per session, the ``cyberdesk_default`` connection pointing at the emulator, and a helper
that runs a DAG through the real ``dag.test()`` loop (deferred tasks run their trigger in-process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

# Airflow reads its configuration when first imported, so the environment is set before any test
# module (or cyberdesk_airflow) imports it.
_HOME = Path(tempfile.mkdtemp(prefix="cyberdesk-airflow-"))
(_HOME / "dags").mkdir()
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

# Fast, deterministic workflows the tests use; durations are simulated seconds (time_scale applies).
WORKFLOWS: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME."""
    return _HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """Run ``airflow db migrate`` once for the whole session."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=180,
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    return airflow_home / "airflow.db"


def connection_json(url: str, api_key: str) -> str:
    """``AIRFLOW_CONN_*`` value for a Cyberdesk connection."""
    return json.dumps({"conn_type": "cyberdesk", "host": url, "password": api_key})


#: Simulated seconds per real second: a 100 s workflow takes one real second.
TIME_SCALE = 100.0
MACHINES = 16


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """An emulator of its own for the Airflow tests (machines to run on, fast clock), registered
    as the ``cyberdesk_default`` connection."""
    from cyberdesk_emulator import EmulatorServer

    seed = {"machines": [{"name": f"desk-{i}"} for i in range(MACHINES)]}
    with EmulatorServer(seed=seed, time_scale=TIME_SCALE) as server:
        os.environ["AIRFLOW_CONN_CYBERDESK_DEFAULT"] = connection_json(server.url, server.api_key)
        yield server


@pytest.fixture
def run_dag(airflow_db: Path, emulator: Any) -> Any:
    """Register a DAG in the metadata DB and run it with ``dag.test()``; returns the DagRun."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import sync_bag_to_db

    def _run(dag: Any) -> Any:
        bag = SimpleNamespace(
            dags={dag.dag_id: dag},
            import_errors={},
            bundle_path=None,
            dag_warnings=set(),
            file_last_changed={},
        )
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test()

    return _run


@pytest.fixture
def xcom() -> Any:
    """``xcom(dag_run, task_id, key="return_value", map_index=-1)`` reads an XCom from the DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    def _get(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        with create_session() as session:
            row = session.scalar(
                XComModel.get_many(
                    run_id=dr.run_id,
                    key=key,
                    task_ids=task_id,
                    dag_ids=dr.dag_id,
                    map_indexes=map_index,
                ).with_only_columns(XComModel.value)
            )
        return None if row is None else XComModel.deserialize_value(SimpleNamespace(value=row))

    return _get


@pytest.fixture
def ti_states() -> Any:
    """``ti_states(dag_run)`` -> ``{(task_id, map_index): (state, try_number)}``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def _states(dr: Any) -> dict[tuple[str, int], tuple[str, int]]:
        with create_session() as session:
            rows = session.query(TaskInstance).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).all()
            return {(ti.task_id, ti.map_index): (str(ti.state), ti.try_number) for ti in rows}

    return _states


@pytest.fixture
def task_logs(airflow_home: Path) -> Any:
    """``task_logs(dag_id)`` -> text of every task log file written for the DAG."""

    def _read(dag_id: str) -> str:
        parts = [
            p.read_text(errors="replace")
            for p in (airflow_home / "logs").rglob("*")
            if p.is_file() and f"dag_id={dag_id}" in str(p)
        ]
        return "\n".join(parts)

    return _read


def behavior_prompt(behavior: dict[str, Any], title: str = "Test workflow") -> str:
    """A workflow prompt carrying the emulator's declarative behaviour block."""
    return f"{title}\n```emulator-behavior\n{json.dumps(behavior)}\n```"


@pytest.fixture(scope="session")
def client(emulator: Any) -> Iterator[Any]:
    """A synchronous core client for the emulator (test setup and assertions)."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as c:
        yield c


@pytest.fixture(scope="session")
def make_workflow(client: Any) -> Any:
    """``make_workflow(behavior)`` -> id of a new emulator workflow with that behaviour."""

    def _make(behavior: dict[str, Any], title: str = "Test workflow") -> str:
        return str(client.workflows.create(behavior_prompt(behavior, title)).id)

    return _make


@pytest.fixture(scope="session")
def ok_workflow(make_workflow: Any) -> str:
    """Succeeds quickly with outputs derived from the inputs."""
    return make_workflow(
        {
            "duration": 30,
            "outcome": "success",
            "output": {"month": "{{ inputs.month }}", "total": 42},
        },
        "ok",
    )


def cancelled_in_emulator(server: Any, run_id: str) -> bool:
    """The emulator's own view: the run is cancelled and no longer executing on a machine."""
    state = server.admin.run_state(run_id)
    return bool(state["run"]["status"] == "cancelled" and not state["executing"])


@pytest.fixture
def printed(capfd: Any, caplog: Any) -> Any:
    """``printed()`` -> everything logged or printed so far in the test (task logs included)."""
    caplog.set_level("INFO")

    def _read() -> str:
        out = capfd.readouterr()
        return out.out + out.err + caplog.text

    return _read
