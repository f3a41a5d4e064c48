"""A local, wire-compatible Cyberdesk API server with simulated machines.

``EmulatorServer`` runs it in a background thread (tests, notebooks); ``cyberdesk-emulator serve``
runs it from the command line; ``cyberdesk_emulator.pytest_plugin`` provides pytest fixtures.

Names are imported on first use (PEP 562): the pytest plugin is loaded by every pytest run of
the project, which should not pay for importing FastAPI and uvicorn unless a fixture is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cyberdesk_core._lazy import LazyExports

# What type checkers see (``X as X`` re-exports it); a test checks it matches _LAZY.
if TYPE_CHECKING:
    from cyberdesk_emulator.admin_client import EmulatorAdmin as EmulatorAdmin
    from cyberdesk_emulator.app import create_app as create_app
    from cyberdesk_emulator.behaviors import Behavior as Behavior
    from cyberdesk_emulator.faults import FaultConfig as FaultConfig
    from cyberdesk_emulator.faults import FaultRule as FaultRule
    from cyberdesk_emulator.runtime import DEFAULT_ADMIN_TOKEN as DEFAULT_ADMIN_TOKEN
    from cyberdesk_emulator.runtime import DEFAULT_API_KEY as DEFAULT_API_KEY
    from cyberdesk_emulator.runtime import Emulator as Emulator
    from cyberdesk_emulator.runtime import Settings as Settings
    from cyberdesk_emulator.server import EmulatorServer as EmulatorServer

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

_EXPORTS = LazyExports(__name__, _LAZY)
__all__ = _EXPORTS.names
__getattr__ = _EXPORTS.load
__dir__ = _EXPORTS.listing
