"""Provider metadata that Airflow discovers through the ``apache_airflow_provider`` entry point.

It must stay cheap to import: Airflow reads it in every component without importing the hook.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

_HOOK = "cyberdesk_airflow.hooks.CyberdeskHook"


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow's ProvidersManager reads."""
    return {
        "package-name": "cyberdesk-orchestration",
        "name": "Cyberdesk",
        "description": "Run Cyberdesk computer-use workflows from Airflow.",
        # The installed distribution's version (from cyberdesk_core/_version.py at build):
        # importing cyberdesk_core here would make every Airflow component pay for it.
        "versions": [version("cyberdesk-orchestration")],
        "integrations": [
            {
                "integration-name": "Cyberdesk",
                "external-doc-url": "https://docs.cyberdesk.io",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Cyberdesk", "python-modules": ["cyberdesk_airflow.hooks"]}],
        "operators": [
            {
                "integration-name": "Cyberdesk",
                "python-modules": [
                    "cyberdesk_airflow.operators.run",
                    "cyberdesk_airflow.operators.chain",
                    "cyberdesk_airflow.operators.bulk",
                    "cyberdesk_airflow.operators.attachments",
                    "cyberdesk_airflow.operators.attachment_urls",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Cyberdesk", "python-modules": ["cyberdesk_airflow.sensors"]}
        ],
        "triggers": [
            {"integration-name": "Cyberdesk", "python-modules": ["cyberdesk_airflow.triggers"]}
        ],
        "connection-types": [
            {
                "connection-type": "cyberdesk",
                "hook-class-name": _HOOK,
                "hook-name": "Cyberdesk",
                # Airflow 3.2+ builds the connection form from these keys without importing
                # the hook; 3.1 reads the hook's get_ui_field_behaviour and has no conn-fields.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Base URL", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.cyberdesk.io",
                        "password": "cd_...",
                        "extra": '{"timeout": 30, "max_retries": 3}',
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                        "description": "Timeout of each HTTP request to Cyberdesk.",
                    },
                    "max_retries": {
                        "label": "Max retries",
                        "schema": {"type": ["integer", "null"], "default": 3},
                        "description": "Retries of rate-limited, failed or timed-out requests.",
                    },
                    "allow_insecure_http": {
                        "label": "Allow plain http (insecure)",
                        "schema": {"type": ["boolean", "null"], "default": False},
                        "description": (
                            "Send the API key over plain http to a host other than this machine. "
                            "Off: such a base URL is refused. Trusted networks only."
                        ),
                    },
                },
            }
        ],
        "extra-links": ["cyberdesk_airflow.links.CyberdeskRunLink"],
    }
