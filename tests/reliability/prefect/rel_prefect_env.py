"""Environment and fixtures of the Prefect reliability suite.

Prefect reads its settings when first imported, so PREFECT_HOME is prepared at import time
(reused if another suite of the same session already imported Prefect).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest

if "prefect" in sys.modules and os.environ.get("PREFECT_HOME"):
    HOME = Path(os.environ["PREFECT_HOME"])
else:
    HOME = Path(tempfile.mkdtemp(prefix="cyberdesk-reliability-prefect-"))
    os.environ["PREFECT_HOME"] = str(HOME)
    atexit.register(shutil.rmtree, HOME, ignore_errors=True)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_LEVEL"] = "DEBUG"
    os.environ["PREFECT_SERVER_LOGGING_LEVEL"] = "WARNING"
    # Persist every result under PREFECT_HOME so the canary scan can read them.
    os.environ["PREFECT_RESULTS_PERSIST_BY_DEFAULT"] = "true"
    os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(HOME / "storage")
os.environ.pop("CYBERDESK_API_KEY", None)
os.environ.pop("CYBERDESK_BASE_URL", None)

TIME_SCALE = 50.0
MACHINES = 24


class PollOptions(TypedDict):
    """Polling keyword arguments of the single-run tasks (`**POLL`)."""

    poll_interval: float
    max_poll_interval: float


POLL: PollOptions = {"poll_interval": 0.1, "max_poll_interval": 0.4}
#: Retries per request for the soak credentials (20% faults: p(all 7 fail) = 0.2**7).
SOAK_RETRIES = 6

ECHO_WORKFLOW = "b2b2b2b2-0000-4000-8000-000000000001"
SLOW_WORKFLOW = "b2b2b2b2-0000-4000-8000-000000000002"
SEED: dict[str, Any] = {
    "workflows": [
        {
            "id": ECHO_WORKFLOW,
            "name": "echo",
            "behavior": {
                "duration": [5, 30],
                "output": {"n": "{{ inputs.n }}", "tag": "{{ inputs.tag | upper }}"},
            },
        },
        {"id": SLOW_WORKFLOW, "name": "slow", "behavior": {"duration": 1_000_000}},
    ],
    "machines": [{"name": f"desk-{i}"} for i in range(MACHINES)],
}


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect API server (temporary SQLite DB) for the suite."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def prefect_db(prefect_harness: None) -> Path:
    """Path of the harness's SQLite database."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    return Path(url.split(":///", 1)[1])


@pytest.fixture(scope="session")
def emulator_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """File receiving the emulator's request log."""
    return tmp_path_factory.mktemp("emulator-log") / "emulator.log"


@pytest.fixture(scope="session")
def emulator(emulator_log: Path) -> Iterator[Any]:
    """The suite's emulator."""
    from cyberdesk_emulator import EmulatorServer

    with EmulatorServer(seed=SEED, time_scale=TIME_SCALE, log_path=emulator_log) as server:
        yield server


@pytest.fixture
def admin(emulator: Any) -> Iterator[Any]:
    """Admin client; faults cleared and counters zeroed around each test."""
    emulator.admin.clear_faults()
    emulator.admin.reset_stats()
    yield emulator.admin
    emulator.admin.clear_faults()


@pytest.fixture
def credentials(emulator: Any, prefect_harness: None) -> Any:
    """Unsaved credentials for the emulator with the soak retry budget."""
    from cyberdesk_prefect import CyberdeskCredentials

    return CyberdeskCredentials(
        api_key=emulator.api_key, base_url=emulator.url, max_retries=SOAK_RETRIES
    )
