"""pytest fixtures for the Cyberdesk emulator (registered through the ``pytest11`` entry point).

- ``cyberdesk_emulator`` (session scope): a started :class:`EmulatorServer` with a fast
  ``time_scale``; use ``.url``, ``.api_key`` and ``.admin``.
- ``cyberdesk_emulator_factory``: call it with ``EmulatorServer`` keyword arguments to start
  extra, isolated servers (custom seed, faults, time scale); they are stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cyberdesk_emulator.server import EmulatorServer

FAST_TIME_SCALE = 100.0


@pytest.fixture(scope="session")
def cyberdesk_emulator() -> Iterator[EmulatorServer]:
    """A shared emulator for the whole test session."""
    from cyberdesk_emulator.server import EmulatorServer

    with EmulatorServer(time_scale=FAST_TIME_SCALE) as server:
        yield server


@pytest.fixture
def cyberdesk_emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    """Factory of isolated emulators, each stopped at the end of the test."""
    from cyberdesk_emulator.server import EmulatorServer

    started: list[EmulatorServer] = []

    def make(**kwargs: Any) -> EmulatorServer:
        kwargs.setdefault("time_scale", FAST_TIME_SCALE)
        server = EmulatorServer(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
