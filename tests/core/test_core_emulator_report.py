"""A `RunReport` of a real run of the local emulator over loopback, and the progress fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cyberdesk_core import (
    PROGRESS_FIELDS,
    AsyncCyberdeskClient,
    CyberdeskClient,
    abuild_run_report,
    build_run_report,
    run_progressed,
)
from cyberdesk_core.waiting import await_run, wait_for_run

pytest.importorskip("cyberdesk_emulator")

WORKFLOW = "00000000-0000-4000-8000-0000000000ab"
SECRET = "s3cret-value-41"
SEED = {
    "workflows": [
        {
            "id": WORKFLOW,
            "name": "ledger export",
            "behavior": {
                "duration": 1,
                "outcome": "success",
                "files": [{"name": "ledger.csv", "content": "a,b\n1,2\n"}],
            },
        }
    ],
    "machines": [{"name": "desk-report"}],
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from cyberdesk_emulator import EmulatorServer
    from cyberdesk_emulator.pytest_plugin import FAST_TIME_SCALE

    with EmulatorServer(seed=SEED, time_scale=FAST_TIME_SCALE) as emu:
        yield emu


def _check(report: Any, run_id: str) -> None:
    assert report.run_id == run_id
    assert report.status == "success"
    assert report.machine_id
    assert report.running_seconds is not None
    assert report.last_steps
    assert report.last_steps[-1].startswith("says: ")
    assert [(a.kind, a.filename) for a in report.attachments] == [("output", "ledger.csv")]
    assert report.usage.runs == 1
    assert all(s.signed_url and s.signed_url.startswith("http") for s in report.screenshots)
    text = report.model_dump_json() + report.to_markdown() + "\n".join(report.to_log_lines())
    assert SECRET not in text
    assert json.loads(report.model_dump_json())["run_id"] == run_id


def test_report_of_an_emulator_run(emulator: Any) -> None:
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        created = client.runs.create(WORKFLOW, sensitive_input_values={"pw": SECRET})
        done = wait_for_run(client, created.id, poll_interval=0.05, timeout=30)
        listed = client.runs.list(workflow_id=WORKFLOW, fields=list(PROGRESS_FIELDS)).items
        assert listed
        assert run_progressed(None, listed[0])
        report = build_run_report(client, done, machine_name="desk-report")
    _check(report, created.id)
    assert report.machine == f"desk-report ({done.machine_id})"


async def test_async_report_of_an_emulator_run(emulator: Any) -> None:
    async with AsyncCyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        created = await client.runs.create(WORKFLOW, sensitive_input_values={"pw": SECRET})
        done = await await_run(client, created.id, poll_interval=0.05, timeout=30)
        report = await abuild_run_report(client, done)
    _check(report, created.id)


def test_a_report_without_details_sends_no_request(emulator: Any) -> None:
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        created = client.runs.create(WORKFLOW)
        wait_for_run(client, created.id, poll_interval=0.05, timeout=30)
        listed = client.runs.list(workflow_id=WORKFLOW, fields=["usage_metadata", "ended_at"])
        run = next(r for r in listed.items if r.id == created.id)
        emulator.admin.reset_stats()
        report = build_run_report(client, run, details=False)
    assert emulator.admin.stats()["requests_by_route"] == {}
    assert report.status == "success"
    assert report.usage.runs == 1
    assert report.usage.agentic_steps > 0
    assert report.screenshots == []
