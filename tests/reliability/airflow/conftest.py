"""Harness of the Airflow reliability suite: the shared Airflow harness
(``tests/airflow_harness.py``: temporary AIRFLOW_HOME, migrated metadata DB, ``dag.test()``
runner) with one emulator whose request log is written to a file. Constants and helpers live in
``rel_airflow_env`` (a uniquely named module).
"""

from __future__ import annotations

import sys
from pathlib import Path

# tests/ (airflow_harness), tests/reliability (reliability_support), this folder (rel_airflow_env).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Importing rel_airflow_env (and so the harness) sets AIRFLOW_HOME & co. before Airflow is imported.
from rel_airflow_env import airflow_db, emulator, emulator_log, run_dag, ti_states, xcom

# Fixtures the tests request.
__all__ = ["airflow_db", "emulator", "emulator_log", "run_dag", "ti_states", "xcom"]
