"""Constants and fixtures of the Airflow reliability suite, on top of the shared Airflow harness
(``tests/airflow_harness.py``), which prepares AIRFLOW_HOME when imported: when another suite of
the same pytest process already imported Airflow, its home is reused (it cannot be changed any
more in this process).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import airflow_harness
import pytest
from airflow_harness import DAGS, HOME, airflow_db, connection_json, run_dag, ti_states, xcom

from cyberdesk_emulator import EmulatorServer

# Re-exported: the suite's conftest and tests import them from here.
__all__ = [
    "DAGS",
    "ECHO_WORKFLOW",
    "HOME",
    "POLL",
    "SLOW_WORKFLOW",
    "airflow_db",
    "connection_json",
    "emulator",
    "emulator_log",
    "new_dag",
    "run_dag",
    "ti_states",
    "xcom",
]

# The suite checks that the connection, not the environment, supplies the key.
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


@pytest.fixture(scope="session")
def emulator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """File receiving the emulator's request log."""
    return tmp_path_factory.mktemp("emulator-log") / "emulator.log"


@pytest.fixture(scope="session")
def emulator(emulator_log: Path) -> Iterator[EmulatorServer]:
    """The suite's emulator, registered as ``cyberdesk_default`` (with a soak retry budget)."""
    with airflow_harness.serve_emulator(
        "cyberdesk_default",
        conn_extra={"max_retries": SOAK_RETRIES},
        seed=SEED,
        time_scale=TIME_SCALE,
        log_path=emulator_log,
    ) as server:
        server.admin.clear_faults()
        yield server


def new_dag(name: str, **kwargs: Any) -> Any:
    """A fresh, uniquely named DAG (``rel_`` prefix: the suite's DAGs are told apart in the DB)."""
    return airflow_harness.new_dag(f"rel_{name}", **kwargs)
