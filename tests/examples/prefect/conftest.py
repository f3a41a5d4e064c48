"""Harness for the example-flow tests: one Prefect test server for the session (under a temporary
PREFECT_HOME) and an emulator seeded with ``example_dags/emulator_seed.yaml``, which the flows
reach through the ``CYBERDESK_API_KEY`` / ``CYBERDESK_BASE_URL`` environment variables.

When another suite of the same session already set PREFECT_HOME (a ``cyberdesk-prefect-home-*``
folder, or Prefect is already imported), it is reused: Prefect reads its settings once per process.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
FLOWS = ROOT / "example_dags" / "prefect"
SEED = ROOT / "example_dags" / "emulator_seed.yaml"
#: Simulated seconds per real second: the 90 s ERP export takes under a second.
TIME_SCALE = 200.0

_existing = os.environ.get("PREFECT_HOME", "")
if not _existing or not (
    "prefect" in sys.modules or Path(_existing).name.startswith("cyberdesk-prefect-home-")
):
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="cyberdesk-prefect-home-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ["CYBERDESK_POLL_INTERVAL"] = "0.1"
# The flow files import their settings module from their own folder, as `python flow.py` does.
if str(FLOWS) not in sys.path:
    sys.path.insert(0, str(FLOWS))


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One Prefect API server for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """The emulator seeded like the demo."""
    from cyberdesk_emulator import EmulatorServer

    with EmulatorServer(seed=SEED, time_scale=TIME_SCALE) as server:
        yield server


@pytest.fixture(autouse=True)
def cyberdesk_env(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the flows at the emulator and at a fresh storage folder; returns that folder."""
    storage = tmp_path / "storage"
    monkeypatch.setenv("CYBERDESK_API_KEY", emulator.api_key)
    monkeypatch.setenv("CYBERDESK_BASE_URL", emulator.url)
    monkeypatch.setenv("CYBERDESK_EXAMPLES_STORAGE", str(storage))
    monkeypatch.delenv("CYBERDESK_CREDENTIALS_BLOCK", raising=False)
    return storage


@pytest.fixture
def client(emulator: Any) -> Iterator[Any]:
    """A core client on the emulator, for assertions."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as c:
        yield c
