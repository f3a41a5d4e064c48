"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager reads."""
    return {
        "package-name": "cyberdesk-orchestration",
        "name": "Cyberdesk",
        "description": "Run Cyberdesk computer-use workflows from Airflow.",
        "versions": ["0.1.0"],
    }
