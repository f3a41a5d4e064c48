"""Fixtures for the Prefect integration tests.

One Prefect API server (`prefect_test_harness`) serves the whole session; PREFECT_HOME
points at a temporary folder so nothing touches the user's profile. One emulator with a
fixed seed (known workflow ids and behaviours, twelve machines) serves every test, sped up
with `time_scale` so a simulated run takes a fraction of a second.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect_seed import SEED, TIME_SCALE

# Must happen before Prefect is imported anywhere in the session.
_PREFECT_HOME = tempfile.mkdtemp(prefix="cyberdesk-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
# Removed when the session ends (after the harness has stopped and closed its database).
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
os.environ.pop("CYBERDESK_API_KEY", None)
os.environ.pop("CYBERDESK_BASE_URL", None)
# An already running Prefect API (e.g. a newer server for an older client) replaces the harness.
_EXTERNAL_API = os.environ.get("CYBERDESK_TEST_PREFECT_API_URL")
if _EXTERNAL_API:
    os.environ["PREFECT_API_URL"] = _EXTERNAL_API


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One Prefect API server for the whole session (or the external one, if given)."""
    if _EXTERNAL_API:
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """A seeded emulator on a free loopback port, shared by the session."""
    from cyberdesk_emulator import EmulatorServer

    server = EmulatorServer(seed=SEED, time_scale=TIME_SCALE)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin(emulator: Any) -> Any:
    """The emulator's admin client."""
    return emulator.admin


@pytest.fixture
def credentials(emulator: Any) -> Any:
    """Credentials pointing at the emulator (not saved)."""
    from cyberdesk_prefect import CyberdeskCredentials

    return CyberdeskCredentials(api_key=emulator.api_key, base_url=emulator.url, max_retries=3)


@pytest.fixture
def saved_credentials(credentials: Any) -> Any:
    """The emulator credentials saved as a block (so hooks can load them by name)."""
    from cyberdesk_prefect import CyberdeskCredentials

    credentials.save("emulator-credentials", overwrite=True)
    return CyberdeskCredentials.load("emulator-credentials")


@pytest.fixture
def core_client(emulator: Any) -> Iterator[Any]:
    """A plain core client for assertions."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        yield client


@pytest.fixture
def restore_behaviors(admin: Any) -> Iterator[None]:
    """Tests that change a workflow's behaviour get the seeded one back afterwards."""
    yield
    for workflow in SEED["workflows"]:
        admin.set_workflow_behavior(workflow["id"], workflow["behavior"])


@pytest.fixture
def no_faults(admin: Any) -> Iterator[None]:
    """Tests that inject faults leave none behind."""
    yield
    admin.clear_faults()


@pytest.fixture
def download_dir(tmp_path: Path) -> Path:
    """A fresh folder for downloaded files."""
    target = tmp_path / "downloads"
    target.mkdir()
    return target


@pytest.fixture
def asserting_events_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Capture emitted Prefect events (Prefect's own testing fixture, re-exported)."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    try:
        yield worker
    finally:
        worker.drain()


@pytest.fixture
def reset_worker_events(asserting_events_worker: Any) -> Iterator[None]:
    """Forget captured events after the test."""
    yield
    asserting_events_worker._client.events = []
