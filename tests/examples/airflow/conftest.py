"""Harness for the example-DAG tests: the shared Airflow harness (``tests/airflow_harness.py``:
temporary AIRFLOW_HOME, migrated metadata DB, ``dag.test()`` runner) with an emulator seeded with
``example_dags/emulator_seed.yaml`` registered as the connection the examples use, and the example
DAGs parsed the way the DAG processor parses them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# Importing the harness sets AIRFLOW_HOME & co. before any test module imports Airflow.
from airflow_harness import airflow_db, client, printed, run_dag, serve_emulator, task_states, xcom

from cyberdesk_emulator import EmulatorServer

# Fixtures the tests request.
__all__ = ["airflow_db", "client", "printed", "run_dag", "xcom"]

ROOT = Path(__file__).resolve().parents[3]
DAGS = ROOT / "example_dags" / "airflow"
SEED = ROOT / "example_dags" / "emulator_seed.yaml"
#: The examples read their connection id from CYBERDESK_CONN_ID when the DAG files are parsed;
#: a connection of their own keeps them off the emulator the provider tests register.
CONN_ID = "cyberdesk_examples"
#: Simulated seconds per real second: the 90 s ERP export takes under a second.
TIME_SCALE = 200.0

os.environ["CYBERDESK_CONN_ID"] = CONN_ID
os.environ["CYBERDESK_POLL_INTERVAL"] = "0.2"
# The DAG files import their settings module from their own folder, as Airflow does for the
# configured DAGs folder.
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """The emulator seeded like the demo, registered as the examples' connection."""
    with serve_emulator(CONN_ID, seed=SEED, time_scale=TIME_SCALE) as server:
        yield server


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
def ti_states() -> Callable[[Any], dict[tuple[str, int], str]]:
    """``ti_states(dag_run)`` -> ``{(task_id, map_index): state}``."""

    def _states(dr: Any) -> dict[tuple[str, int], str]:
        return {key: state for key, (state, _tries) in task_states(dr).items()}

    return _states
