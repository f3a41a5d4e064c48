"""Harness of the Airflow reliability suite: a throw-away AIRFLOW_HOME with a migrated SQLite
metadata DB, one emulator (request log written to a file), and helpers to run DAGs with the real
``dag.test()`` loop. Constants and helpers live in ``rel_airflow_env`` (a uniquely named module).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Sets AIRFLOW_HOME & co. before anything imports Airflow.
import rel_airflow_env  # noqa: F401
from rel_airflow_env import (  # noqa: F401
    airflow_db,
    emulator,
    emulator_log,
    run_dag,
    ti_states,
    xcom,
)
