"""Harness for the example-DAG tests: a throw-away AIRFLOW_HOME migrated once per session, an
emulator seeded with ``example_dags/emulator_seed.yaml`` registered as the connection the examples
use, and a helper that runs a DAG through the real ``dag.test()`` loop.

When another suite of the same session already set AIRFLOW_HOME (a ``cyberdesk-airflow-*`` folder,
or Airflow is already imported), that home is reused instead of creating a second one, because
Airflow reads its configuration once per process.
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

ROOT = Path(__file__).resolve().parents[3]
DAGS = ROOT / "example_dags" / "airflow"
SEED = ROOT / "example_dags" / "emulator_seed.yaml"
#: The examples read their connection id from CYBERDESK_CONN_ID when the DAG files are parsed;
#: a connection of their own keeps them off the emulator the provider tests register.
CONN_ID = "cyberdesk_examples"
#: Simulated seconds per real second: the 90 s ERP export takes under a second.
TIME_SCALE = 200.0

_existing = os.environ.get("AIRFLOW_HOME", "")
if _existing and (
    "airflow" in sys.modules or Path(_existing).name.startswith("cyberdesk-airflow-")
):
    _HOME = Path(_existing)
else:
    _HOME = Path(tempfile.mkdtemp(prefix="cyberdesk-airflow-"))
    (_HOME / "dags").mkdir()
    os.environ["AIRFLOW_HOME"] = str(_HOME)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_HOME / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
os.environ["CYBERDESK_CONN_ID"] = CONN_ID
os.environ["CYBERDESK_POLL_INTERVAL"] = "0.2"
# The DAG files import their settings module from their own folder, as Airflow does for the
# configured DAGs folder.
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Run ``airflow db migrate`` once for the session (a no-op when already migrated)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
        timeout=240,
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    return _HOME


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """The emulator seeded like the demo, registered as the examples' connection."""
    from cyberdesk_emulator import EmulatorServer

    with EmulatorServer(seed=SEED, time_scale=TIME_SCALE) as server:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "cyberdesk", "host": server.url, "password": server.api_key}
        )
        yield server


@pytest.fixture(scope="session")
def client(emulator: Any) -> Iterator[Any]:
    """A core client on the emulator, for assertions."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as c:
        yield c


@pytest.fixture(scope="session")
def dagbag() -> Any:
    """Every example DAG, parsed the way the scheduler's DAG processor parses them."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``file://`` object-storage root for the downloads of one test."""
    root = tmp_path / "storage"
    monkeypatch.setenv("CYBERDESK_EXAMPLES_STORAGE", f"file://{root}")
    return root


@pytest.fixture
def run_dag(airflow_db: Path, emulator: Any) -> Any:
    """``run_dag(dag, **dag_test_kwargs)``: register the DAG and run it with ``dag.test()``."""
    from airflow.dag_processing.dagbag import sync_bag_to_db

    def _run(dag: Any, **kwargs: Any) -> Any:
        bag: Any = SimpleNamespace(
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
    """``xcom(dag_run, task_id, key="return_value", map_index=-1)`` reads an XCom value."""
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
def printed(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Any:
    """``printed()`` -> everything printed or logged so far in the test (``dag.test()`` task logs
    included)."""
    caplog.set_level("INFO")

    def _read() -> str:
        out = capfd.readouterr()
        return out.out + out.err + caplog.text

    return _read


@pytest.fixture
def ti_states() -> Any:
    """``ti_states(dag_run)`` -> ``{(task_id, map_index): state}``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    def _states(dr: Any) -> dict[tuple[str, int], str]:
        with create_session() as session:
            rows = session.query(TaskInstance).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).all()
            return {(ti.task_id, ti.map_index): str(ti.state) for ti in rows}

    return _states
