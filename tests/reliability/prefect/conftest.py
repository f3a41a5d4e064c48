"""Harness of the Prefect reliability suite: PREFECT_HOME in a temp folder, results persisted
there (so they can be searched), one Prefect test server, one emulator with a request log file.
Constants and fixtures live in ``rel_prefect_env`` (a uniquely named module).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Sets PREFECT_HOME & co. before anything imports Prefect.
import rel_prefect_env  # noqa: F401
from rel_prefect_env import (  # noqa: F401
    admin,
    credentials,
    emulator,
    emulator_log,
    prefect_db,
    prefect_harness,
)
