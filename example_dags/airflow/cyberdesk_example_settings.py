"""Settings shared by the Cyberdesk example DAGs in this folder.

Every id is looked up at run time (never while the file is parsed) in this order:

1. the Airflow Variable ``cyberdesk_<name>`` (also settable as ``AIRFLOW_VAR_CYBERDESK_<NAME>``),
2. the environment variable ``CYBERDESK_<NAME>``,
3. the id the emulator seed (``example_dags/emulator_seed.yaml``) gives the object.

``examples_storage`` (where downloaded files go; any ``ObjectStoragePath`` URI) defaults to a
``file://`` folder under the system's temporary directory.

So the DAGs run against the local emulator without configuration, and against Cyberdesk Cloud once
the ``cyberdesk_default`` connection holds a real API key and the ids name your own workflows,
pools and machines.
"""

from __future__ import annotations

import os
import tempfile

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
}

#: Airflow connection the examples use (API key in ``password``, base URL in ``host``).
CONN_ID = os.environ.get("CYBERDESK_CONN_ID", "cyberdesk_default")

#: Seconds between status checks while a task waits for its Cyberdesk runs.
POLL_INTERVAL = float(os.environ.get("CYBERDESK_POLL_INTERVAL", "15"))


def lookup(name: str) -> str:
    """Value of setting ``name``: Airflow Variable, then environment variable, then seed default.

    An empty value means "not set" (for a pool: run on any machine). Call it inside a task only:
    reading Variables while the DAG file is parsed would query the metadata database on every
    parse.
    """
    from airflow.sdk import Variable

    value = Variable.get(f"cyberdesk_{name}", default=None)
    if value is None:
        value = os.environ.get(f"CYBERDESK_{name.upper()}")
    if value is None:
        value = SEED_DEFAULTS.get(name)
    if value is None and name == "examples_storage":
        value = f"file://{tempfile.gettempdir()}/cyberdesk-examples"
    if value is None:
        raise KeyError(f"unknown Cyberdesk example setting {name!r}")
    return str(value).strip()


def pool_list(*names: str) -> list[str] | None:
    """The non-empty pool ids among the settings ``names`` (None when there are none)."""
    pools = [pool for pool in (lookup(name) for name in names) if pool]
    return pools or None
