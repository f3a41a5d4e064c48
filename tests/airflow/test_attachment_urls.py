"""CyberdeskAttachmentUrlOperator: signed URLs through XCom, fetched without the API key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators import CyberdeskAttachmentUrlOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator

RUN_ID = "{{ ti.xcom_pull(task_ids='run', key='run_id') }}"


@pytest.fixture(scope="module")
def ledger_workflow(make_workflow: Any) -> str:
    workflow_id: str = make_workflow(
        {
            "duration": 10,
            "files": [
                {"name": "ledger.csv", "content": "account,amount\n4000,12.5\n"},
                {"name": "notes.txt", "content": "closed"},
            ],
        },
        "ledger",
    )
    return workflow_id


def test_signed_urls_download_without_the_api_key(
    ledger_workflow: str, run_dag: Any, xcom: Any, printed: Any
) -> None:
    with new_dag("attachment_urls") as dag:
        run = CyberdeskRunOperator(task_id="run", workflow_id=ledger_workflow, poll_interval=POLL)
        by_run = CyberdeskAttachmentUrlOperator(
            task_id="by_run", run_id=RUN_ID, filename="*.csv", attachment_type="output"
        )
        by_id = CyberdeskAttachmentUrlOperator(
            task_id="by_id",
            attachment_id="{{ ti.xcom_pull(task_ids='by_run')[0]['attachment_id'] }}",
            expires_in=60,
        )
        run >> by_run >> by_id
    dr = run_dag(dag)
    assert dr.state == "success"
    (listed,) = xcom(dr, "by_run")
    assert listed["filename"] == "ledger.csv"
    assert listed["attachment_type"] == "output"
    assert listed["expires_in"] == 300
    assert listed["run_id"] == xcom(dr, "run", "run_id")
    one = xcom(dr, "by_id")
    assert (one["attachment_id"], one["expires_in"]) == (listed["attachment_id"], 60)
    assert xcom(dr, "by_id", "run_url") == xcom(dr, "run", "run_url")
    for signed in (listed, one):
        fetched = httpx.get(signed["url"])  # no API key
        assert fetched.status_code == 200
        assert fetched.content == b"account,amount\n4000,12.5\n"
    logs = printed()
    assert f"attachment {one['attachment_id']} (ledger.csv), valid 60 s" in logs
    assert one["url"] not in logs
    assert listed["url"] not in logs


@pytest.mark.parametrize("expires_in", [5, 3601])
def test_expiry_out_of_range_fails_before_any_request(
    expires_in: int, run_dag: Any, emulator: Any, printed: Any
) -> None:
    with new_dag("attachment_urls_bad") as dag:
        CyberdeskAttachmentUrlOperator(
            task_id="sign",
            run_id="00000000-0000-4000-8000-000000000001",
            expires_in=expires_in,
        )
    emulator.admin.reset_stats()
    assert run_dag(dag).state == "failed"
    routes = emulator.admin.stats()["requests_by_route"]
    assert not [route for route in routes if "attachments" in route]
    assert "expires_in must be an integer number of seconds between 10 and 3600" in printed()
