"""Harness for the Airflow engine tests: the shared Airflow harness (``tests/airflow_harness.py``:
temporary AIRFLOW_HOME, migrated metadata DB, ``dag.test()`` runner) with an emulator of this
suite's own registered as the ``cyberdesk_default`` connection, plus workflow helpers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Importing the harness sets AIRFLOW_HOME & co. before any test module imports Airflow.
from airflow_harness import (
    airflow_db,
    airflow_home,
    client,
    connection_json,
    printed,
    run_dag,
    serve_emulator,
    ti_states,
    xcom,
)

from cyberdesk_core import CyberdeskClient
from cyberdesk_emulator import EmulatorServer

# Fixtures the tests request, and helpers they import from this module.
__all__ = [
    "airflow_db",
    "airflow_home",
    "cancelled_in_emulator",
    "client",
    "connection_json",
    "printed",
    "run_dag",
    "ti_states",
    "xcom",
]

#: Simulated seconds per real second: a 100 s workflow takes one real second.
TIME_SCALE = 100.0
MACHINES = 16


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """An emulator of its own for the Airflow tests (machines to run on, fast clock), registered
    as the ``cyberdesk_default`` connection."""
    seed = {"machines": [{"name": f"desk-{i}"} for i in range(MACHINES)]}
    with serve_emulator("cyberdesk_default", seed=seed, time_scale=TIME_SCALE) as server:
        yield server


@pytest.fixture
def task_logs(airflow_home: Path) -> Callable[[str], str]:
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
def make_workflow(client: CyberdeskClient) -> Callable[..., str]:
    """``make_workflow(behavior)`` -> id of a new emulator workflow with that behaviour."""

    def _make(behavior: dict[str, Any], title: str = "Test workflow") -> str:
        return str(client.workflows.create(behavior_prompt(behavior, title)).id)

    return _make


@pytest.fixture(scope="session")
def ok_workflow(make_workflow: Callable[..., str]) -> str:
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
