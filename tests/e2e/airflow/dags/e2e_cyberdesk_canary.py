"""End-to-end DAG of the secrets canary: every way a secret enters a Cyberdesk task.

Secrets come from where a deployment keeps them, never from the DAG run's ``conf``:
- literal ``sensitive_input_values`` read from the environment when the file is parsed (the
  JSON object in ``CYBERDESK_E2E_CANARY_SECRETS``, set on every service by the test harness);
- an Airflow Variable (``canary_erp_pin``, a key name Airflow itself does not treat as secret,
  so only the operators' own masking protects it);
- the API key, in the password of the connection ``cyberdesk_canary``.

``conf``: ``workflow_id`` and ``planted``, a marker that is *not* secret: the ``plant`` task
logs it and writes it to a temp file, and ``run_worker`` sends it as an ordinary input, so the
test can prove its search finds a marker in task logs, temp files, rendered fields and XCom.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, task

from cyberdesk_airflow.operators import (
    CyberdeskBulkRunOperator,
    CyberdeskChainOperator,
    CyberdeskRunOperator,
)

SECRETS_ENV = "CYBERDESK_E2E_CANARY_SECRETS"
CONN_ID = "cyberdesk_canary"
PIN_VARIABLE = "canary_erp_pin"
#: Prefix of the temp file the ``plant`` task leaves behind (the test deletes it).
PLANTED_FILE_PREFIX = "cyberdesk-e2e-planted-"

SECRETS: dict[str, str] = json.loads(os.environ.get(SECRETS_ENV) or "{}")
WORKFLOW = "{{ dag_run.conf['workflow_id'] }}"
COMMON: dict[str, Any] = {"cyberdesk_conn_id": CONN_ID, "poll_interval": 1.0, "timeout": 300}


@task
def plant(marker: str) -> None:
    """Log the non-secret marker and leave it in a temp file, as careless task code would."""
    print(f"planted marker: {marker}")
    with tempfile.NamedTemporaryFile(
        "w", prefix=PLANTED_FILE_PREFIX, suffix=".txt", delete=False
    ) as handle:
        handle.write(marker)


with DAG(
    dag_id="e2e_cyberdesk_canary",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    default_args={"retries": 0},
    max_active_tasks=8,
    tags=["e2e"],
):
    plant("{{ dag_run.conf['planted'] }}")
    CyberdeskRunOperator(
        task_id="run_deferred",
        workflow_id=WORKFLOW,
        input_values={"n": 1},
        sensitive_input_values={"pw": SECRETS.get("run")},
        sensitive_input_variables={"pin": PIN_VARIABLE},
        deferrable=True,
        **COMMON,
    )
    CyberdeskRunOperator(
        task_id="run_worker",
        workflow_id=WORKFLOW,
        input_values={"n": 2, "tag": "{{ dag_run.conf['planted'] }}"},
        sensitive_input_values={"pw": SECRETS.get("worker")},
        deferrable=False,
        **COMMON,
    )
    CyberdeskChainOperator(
        task_id="chain",
        steps=[
            {"workflow_id": WORKFLOW, "session_alias": "first", "inputs": {"n": 3}},
            {
                "workflow_id": WORKFLOW,
                "session_alias": "second",
                "inputs": {"n": {"$ref": "first.outputs.n"}},
            },
        ],
        shared_sensitive_inputs={"pw": SECRETS.get("shared")},
        step_sensitive_inputs={"second": {"pin": SECRETS.get("step")}},
        deferrable=True,
        **COMMON,
    )
    CyberdeskBulkRunOperator(
        task_id="bulk",
        workflow_id=WORKFLOW,
        count=2,
        input_values={"n": 4},
        sensitive_input_values={"pw": SECRETS.get("bulk")},
        deferrable=False,
        **COMMON,
    )
