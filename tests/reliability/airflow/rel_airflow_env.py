"""Environment and fixtures of the Airflow reliability suite.

Airflow reads its configuration when first imported, so AIRFLOW_HOME is prepared at import
time. When another suite of the same pytest session already imported Airflow, its home is
reused (it cannot be changed any more in this process).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME"):
    HOME = Path(os.environ["AIRFLOW_HOME"])
else:
    HOME = Path(tempfile.mkdtemp(prefix="cyberdesk-reliability-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(HOME)
    atexit.register(shutil.rmtree, HOME, ignore_errors=True)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(HOME / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
DAGS = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(HOME / "dags")))
DAGS.mkdir(parents=True, exist_ok=True)
os.environ.pop("CYBERDESK_API_KEY", None)

#: Simulated seconds per real second.
TIME_SCALE = 100.0
MACHINES = 24
POLL = 0.2
#: Retries per request for the soak connection (20% faults: p(all 7 fail) = 0.2**7).
SOAK_RETRIES = 6

ECHO_WORKFLOW = "a1a1a1a1-0000-4000-8000-000000000001"
SLOW_WORKFLOW = "a1a1a1a1-0000-4000-8000-000000000002"
SEED: dict[str, Any] = {
    "workflows": [
        {
            "id": ECHO_WORKFLOW,
            "name": "echo",
            "behavior": {
                "duration": [10, 60],
                "output": {"n": "{{ inputs.n }}", "tag": "{{ inputs.tag | upper }}"},
            },
        },
        {"id": SLOW_WORKFLOW, "name": "slow", "behavior": {"duration": 1_000_000}},
    ],
    "machines": [{"name": f"desk-{i}"} for i in range(MACHINES)],
}


def connection_json(url: str, api_key: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_*`` value of a Cyberdesk connection."""
    return json.dumps(
        {"conn_type": "cyberdesk", "host": url, "password": api_key, "extra": extra or None}
    )


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """``airflow db migrate`` once per session."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=240,
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    return HOME / "airflow.db"


@pytest.fixture(scope="session")
def emulator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """File receiving the emulator's request log."""
    return tmp_path_factory.mktemp("emulator-log") / "emulator.log"


@pytest.fixture(scope="session")
def emulator(emulator_log: Path) -> Iterator[Any]:
    """The suite's emulator, registered as ``cyberdesk_default`` (with a soak retry budget)."""
    from cyberdesk_emulator import EmulatorServer

    with EmulatorServer(seed=SEED, time_scale=TIME_SCALE, log_path=emulator_log) as server:
        os.environ["AIRFLOW_CONN_CYBERDESK_DEFAULT"] = connection_json(
            server.url, server.api_key, max_retries=SOAK_RETRIES
        )
        server.admin.clear_faults()
        yield server


@pytest.fixture
def run_dag(airflow_db: Path, emulator: Any) -> Any:
    """Register a DAG in the metadata DB and run it with ``dag.test()``; returns the DagRun."""
    from airflow.dag_processing.dagbag import sync_bag_to_db

    def _run(dag: Any, **kwargs: Any) -> Any:
        bag = SimpleNamespace(
            dags={dag.dag_id: dag},
            import_errors={},
            bundle_path=None,
            dag_warnings=set(),
            file_last_changed={},
        )
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test(**kwargs)

    return _run


@pytest.fixture
def xcom() -> Any:
    """``xcom(dag_run, task_id, key="return_value", map_index=-1)`` read from the DB."""
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


def new_dag(name: str, **kwargs: Any) -> Any:
    """A fresh, uniquely named DAG."""
    import uuid
    from datetime import datetime, timezone

    from airflow.sdk import DAG

    return DAG(
        f"rel_{name}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        **kwargs,
    )
