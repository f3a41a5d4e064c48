"""Shared harness of the Airflow test suites (``tests/airflow``, ``tests/examples/airflow``,
``tests/reliability/airflow``): a throw-away AIRFLOW_HOME, one migrated SQLite metadata database,
an emulator registered as an Airflow connection, and fixtures that run a DAG through the real
``dag.test()`` loop (deferred tasks run their trigger in-process) and read back its results.

Airflow reads its configuration once, when it is first imported, so importing this module prepares
AIRFLOW_HOME; each suite's conftest imports it before anything imports Airflow. Python imports
a module once per process, so suites collected by one pytest process share one home and one
metadata database. Each conftest puts ``tests/`` on ``sys.path`` to import this module (uniquely
named, unlike the conftests).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cyberdesk_core import CyberdeskClient
    from cyberdesk_emulator import EmulatorServer

#: ``{(task_id, map_index): (state, try_number)}`` of a DAG run's task instances.
TaskStates = dict[tuple[str, int], tuple[str, int]]


def _remove_home(home: Path, owner_pid: int) -> None:
    # A process forked from this one inherits the exit hook; only the creator may remove the home.
    if os.getpid() == owner_pid:
        shutil.rmtree(home, ignore_errors=True)


def _prepare_home() -> Path:
    """Point Airflow at a fresh temporary home (removed at exit) and return it."""
    existing = os.environ.get("AIRFLOW_HOME")
    if existing and "airflow" in sys.modules:
        # Airflow has read its configuration already: this process can only use that home.
        return Path(existing)
    home = Path(tempfile.mkdtemp(prefix="cyberdesk-airflow-"))
    atexit.register(_remove_home, home, os.getpid())
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    # Unit-test mode switches Airflow to settings that differ from a real deployment.
    os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    return home


HOME = _prepare_home()
DAGS = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", str(HOME / "dags")))
DAGS.mkdir(parents=True, exist_ok=True)


def connection_json(url: str, api_key: str, **extra: Any) -> str:
    """``AIRFLOW_CONN_*`` value of a Cyberdesk connection; ``extra`` is the connection's extra."""
    conn: dict[str, Any] = {"conn_type": "cyberdesk", "host": url, "password": api_key}
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


@contextmanager
def serve_emulator(
    conn_id: str, *, conn_extra: dict[str, Any] | None = None, **server_kwargs: Any
) -> Iterator[EmulatorServer]:
    """Run ``EmulatorServer(**server_kwargs)``, registered as the Airflow connection ``conn_id``."""
    from cyberdesk_emulator import EmulatorServer

    env_name = f"AIRFLOW_CONN_{conn_id.upper()}"
    with EmulatorServer(**server_kwargs) as server:
        os.environ[env_name] = connection_json(server.url, server.api_key, **(conn_extra or {}))
        try:
            yield server
        finally:
            os.environ.pop(env_name, None)


@functools.cache
def migrate_db() -> Path:
    """Run ``airflow db migrate`` (once per process) and register the DAG bundles."""
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
    return HOME / "airflow.db"


def register_dag(dag: Any) -> None:
    """Write the DAG to the metadata DB, as the DAG processor does for a parsed file."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef]

    bag: Any = SimpleNamespace(
        dags={dag.dag_id: dag},
        import_errors={},
        bundle_path=None,
        dag_warnings=set(),
        file_last_changed={},
    )
    sync_bag_to_db(bag, "dags-folder", None)


def read_xcom(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """The deserialised XCom value of a task of the DAG run, or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

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


def task_states(dr: Any) -> TaskStates:
    """``{(task_id, map_index): (state, try_number)}`` of the DAG run's task instances."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).all()
        return {(ti.task_id, ti.map_index): (str(ti.state), ti.try_number) for ti in rows}


def new_dag(name: str, **kwargs: Any) -> Any:
    """A fresh DAG named ``name`` plus a unique suffix (DAG ids stay unique in the shared DB)."""
    from airflow.sdk import DAG

    return DAG(
        f"{name}_{uuid.uuid4().hex[:8]}",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        **kwargs,
    )


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The process's AIRFLOW_HOME."""
    return HOME


def share_in_process_api() -> None:
    """Let every ``dag.test()`` task of the process share one in-process execution API.

    Airflow 3.3 caches ``in_process_api_server`` (``functools.lru_cache``); 3.1 builds the
    execution API app anew for every task instance, each with an event-loop thread that never
    stops, which made the oldest-release suite four to six times slower than the newest
    (hundreds of idle threads by the mapped tests). This applies 3.3's cache where it is missing.
    """
    from airflow.sdk.execution_time import supervisor

    factory = supervisor.in_process_api_server
    if not hasattr(factory, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(factory)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The migrated metadata database (``airflow db migrate`` runs once per process)."""
    path = migrate_db()
    share_in_process_api()
    return path


@pytest.fixture(scope="session")
def client(emulator: EmulatorServer) -> Iterator[CyberdeskClient]:
    """A synchronous core client for the suite's ``emulator`` (test setup and assertions)."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as c:
        yield c


@pytest.fixture
def run_dag(airflow_db: Path, emulator: EmulatorServer) -> Callable[..., Any]:
    """``run_dag(dag, **dag_test_kwargs)``: register the DAG and run it with ``dag.test()``;
    returns the DagRun."""

    def _run(dag: Any, **kwargs: Any) -> Any:
        register_dag(dag)
        return dag.test(**kwargs)

    return _run


@pytest.fixture
def xcom() -> Callable[..., Any]:
    """``xcom(dag_run, task_id, key="return_value", map_index=-1)`` reads an XCom from the DB."""
    return read_xcom


@pytest.fixture
def ti_states() -> Callable[[Any], TaskStates]:
    """``ti_states(dag_run)`` -> ``{(task_id, map_index): (state, try_number)}``."""
    return task_states


@pytest.fixture
def printed(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Callable[[], str]:
    """``printed()`` -> everything printed or logged so far in the test (``dag.test()`` task logs
    included)."""
    caplog.set_level("INFO")

    def _read() -> str:
        out = capfd.readouterr()
        return out.out + out.err + caplog.text

    return _read
