"""Fixtures of the core reliability suite (core client + emulator only, no engine)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rel_core_env import SEED, TIME_SCALE

from cyberdesk_emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    """One seeded emulator for the suite (faults are set and cleared per test)."""
    log = tmp_path_factory.mktemp("emulator") / "emulator.log"
    with EmulatorServer(seed=SEED, time_scale=TIME_SCALE, log_path=log) as server:
        yield server


@pytest.fixture
def admin(emulator: EmulatorServer) -> Iterator[Any]:
    """The admin client, with faults cleared and counters zeroed around the test."""
    emulator.admin.clear_faults()
    emulator.admin.reset_stats()
    yield emulator.admin
    emulator.admin.clear_faults()
