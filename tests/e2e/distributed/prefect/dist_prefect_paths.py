"""Put the single-machine Airflow e2e helpers (`tests/e2e/airflow`: the process stack and the
module loader) on sys.path; imported first by the modules that use them.

A folder, not a package: tests/e2e/airflow as a package would shadow the real `airflow`.
"""

from __future__ import annotations

import sys
from pathlib import Path

AIRFLOW_E2E = str(Path(__file__).resolve().parents[2] / "airflow")
if AIRFLOW_E2E not in sys.path:
    sys.path.insert(0, AIRFLOW_E2E)
