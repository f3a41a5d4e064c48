"""A local, wire-compatible Cyberdesk API server with simulated machines.

``EmulatorServer`` runs it in a background thread (tests, notebooks); ``cyberdesk-emulator serve``
runs it from the command line; ``cyberdesk_emulator.pytest_plugin`` provides pytest fixtures.

Names are imported on first use (PEP 562): the pytest plugin is loaded by every pytest run of
the project, which should not pay for importing FastAPI and uvicorn unless a fixture is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cyberdesk_emulator.admin_client import EmulatorAdmin
    from cyberdesk_emulator.app import create_app
    from cyberdesk_emulator.behaviors import Behavior
    from cyberdesk_emulator.faults import FaultConfig, FaultRule
    from cyberdesk_emulator.runtime import (
        DEFAULT_ADMIN_TOKEN,
        DEFAULT_API_KEY,
        Emulator,
        Settings,
    )
    from cyberdesk_emulator.server import EmulatorServer

_LAZY: dict[str, str] = {
    "DEFAULT_ADMIN_TOKEN": "cyberdesk_emulator.runtime",
    "DEFAULT_API_KEY": "cyberdesk_emulator.runtime",
    "Behavior": "cyberdesk_emulator.behaviors",
    "Emulator": "cyberdesk_emulator.runtime",
    "EmulatorAdmin": "cyberdesk_emulator.admin_client",
    "EmulatorServer": "cyberdesk_emulator.server",
    "FaultConfig": "cyberdesk_emulator.faults",
    "FaultRule": "cyberdesk_emulator.faults",
    "Settings": "cyberdesk_emulator.runtime",
    "create_app": "cyberdesk_emulator.app",
}

__all__ = [
    "DEFAULT_ADMIN_TOKEN",
    "DEFAULT_API_KEY",
    "Behavior",
    "Emulator",
    "EmulatorAdmin",
    "EmulatorServer",
    "FaultConfig",
    "FaultRule",
    "Settings",
    "create_app",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cyberdesk_emulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
