"""Settings shared by the Cyberdesk example flows in this folder.

Every id is looked up when a flow runs, in this order:

1. the Prefect Variable ``cyberdesk_<name>``,
2. the environment variable ``CYBERDESK_<NAME>``,
3. the id the emulator seed (``example_dags/emulator_seed.yaml``) gives the object.

Credentials come from the ``CyberdeskCredentials`` block named by ``cyberdesk_credentials_block``
(Variable or ``CYBERDESK_CREDENTIALS_BLOCK``); without one, from ``CYBERDESK_API_KEY`` /
``CYBERDESK_BASE_URL``; without those, from the local emulator's defaults
(``http://127.0.0.1:8765``, started with ``make emulator``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prefect.variables import Variable

from cyberdesk_prefect import CyberdeskCredentials

#: Ids of the objects in ``example_dags/emulator_seed.yaml``.
SEED_DEFAULTS: dict[str, str] = {
    "erp_export_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000001",
    "excel_transform_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000002",
    "erp_import_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000003",
    "ehr_extract_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000004",
    "portal_login_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000005",
    "claims_submit_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000006",
    "remittance_download_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000007",
    "portal_logout_workflow_id": "3f6b8f0e-5a1d-4c3e-8a01-000000000008",
    "finance_pool_id": "9d2c4a7e-2b6f-4f0a-9c11-000000000001",
    "customer_pool_id": "9d2c4a7e-2b6f-4f0a-9c11-000000000002",
    "ehr_pool_id": "9d2c4a7e-2b6f-4f0a-9c11-000000000003",
    "billing_pool_id": "9d2c4a7e-2b6f-4f0a-9c11-000000000005",
    "company": "Acme Manufacturing Inc.",
    "credentials_block": "",
}

#: The local emulator's address and API key (``cyberdesk-emulator serve`` defaults).
EMULATOR_URL = "http://127.0.0.1:8765"
EMULATOR_API_KEY = "cd_emulator_key"


def lookup(name: str) -> str:
    """Value of setting ``name``: Prefect Variable, then environment variable, then seed default.

    An empty value means "not set" (for a pool: run on any machine).
    """
    value = Variable.get(f"cyberdesk_{name}", default=None)
    if value is None:
        value = os.environ.get(f"CYBERDESK_{name.upper()}")
    if value is None:
        value = SEED_DEFAULTS.get(name)
    if value is None and name == "examples_storage":
        value = str(Path(tempfile.gettempdir()) / "cyberdesk-examples")
    if value is None:
        raise KeyError(f"unknown Cyberdesk example setting {name!r}")
    return str(value).strip()


def pool_list(*names: str) -> list[str] | None:
    """The non-empty pool ids among the settings ``names`` (None when there are none)."""
    pools = [pool for pool in (lookup(name) for name in names) if pool]
    return pools or None


def storage_folder(*parts: str) -> Path:
    """A local folder under the ``examples_storage`` setting (a ``file://`` URI is accepted)."""
    root = lookup("examples_storage").removeprefix("file://")
    return Path(root, *parts)


def poll_interval() -> float:
    """First delay between status checks in seconds (``CYBERDESK_POLL_INTERVAL``, default 15)."""
    return float(os.environ.get("CYBERDESK_POLL_INTERVAL", "15"))


def load_credentials() -> CyberdeskCredentials:
    """The Cyberdesk credentials the examples use (block, environment, or the local emulator)."""
    block = lookup("credentials_block")
    if block:
        loaded = CyberdeskCredentials.load(block, _sync=True)  # type: ignore[call-arg]
        if not isinstance(loaded, CyberdeskCredentials):
            raise TypeError(f"block {block!r} is not a CyberdeskCredentials block")
        return loaded
    api_key = os.environ.get("CYBERDESK_API_KEY")
    if api_key:
        base_url = os.environ.get("CYBERDESK_BASE_URL") or "https://api.cyberdesk.io"
        return CyberdeskCredentials(api_key=api_key, base_url=base_url)
    return CyberdeskCredentials(api_key=EMULATOR_API_KEY, base_url=EMULATOR_URL)
