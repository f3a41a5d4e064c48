"""CyberdeskRunTrigger: serialisation, events, deadline, transient faults, on_kill."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import cancelled_in_emulator, connection_json

from cyberdesk_airflow.triggers import CyberdeskRunTrigger


def first_event(trigger: CyberdeskRunTrigger) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        event = await anext(trigger.run())
        return dict(event.payload)

    return asyncio.run(main())


def test_serialisation_round_trip(emulator: Any) -> None:
    created = datetime(2026, 3, 1, tzinfo=timezone.utc).isoformat()
    trigger = CyberdeskRunTrigger(
        conn_id="cyberdesk_default",
        run_ids=["r1", "r2"],
        poll_interval=0.2,
        deadline=created,
        workflow_id="wf",
        session_id=None,
        created_at=created,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "cyberdesk_airflow.triggers.CyberdeskRunTrigger"
    text = json.dumps(kwargs)
    assert emulator.api_key not in text
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**json.loads(text))
    assert rebuilt.serialize() == (classpath, kwargs)

    from airflow.serialization.serialized_objects import BaseSerialization

    encoded = BaseSerialization.serialize(kwargs)
    assert BaseSerialization.deserialize(encoded) == kwargs
    single = CyberdeskRunTrigger(run_id="only")
    assert single.serialize()[1]["run_id"] == "only"
    assert "run_ids" not in single.serialize()[1]


def test_success_event_carries_runs(client: Any, ok_workflow: str) -> None:
    runs = [client.runs.create(ok_workflow, input_values={"month": f"m{i}"}) for i in range(3)]
    event = first_event(
        CyberdeskRunTrigger(
            run_ids=[r.id for r in runs],
            poll_interval=0.2,
            workflow_id=ok_workflow,
            created_at=runs[0].created_at.isoformat(),
        )
    )
    assert event["status"] == "success"
    assert event["run_ids"] == [r.id for r in runs]
    assert [r["output_data"]["month"] for r in event["runs"]] == ["m0", "m1", "m2"]
    json.dumps(event)


def test_failed_event(client: Any, make_workflow: Any) -> None:
    workflow = make_workflow({"duration": 20, "outcome": "error", "error_message": "boom"})
    run = client.runs.create(workflow)
    event = first_event(CyberdeskRunTrigger(run_id=run.id, poll_interval=0.2))
    assert event["status"] == "failed"
    assert event["runs"][0]["status"] == "error"
    assert event["runs"][0]["error"] == ["boom"]


def test_deadline_emits_timeout_without_cancelling(client: Any, make_workflow: Any) -> None:
    slow = make_workflow({"duration": 10_000})
    run = client.runs.create(slow)
    deadline = (datetime.now(timezone.utc) + timedelta(seconds=0.6)).isoformat()
    event = first_event(CyberdeskRunTrigger(run_id=run.id, poll_interval=0.2, deadline=deadline))
    assert event["status"] == "timeout"
    assert event["runs"][0]["id"] == run.id
    # The operator cancels on a timeout event; the trigger itself leaves the run alone.
    assert not client.runs.get(run.id).is_terminal
    client.runs.cancel(run.id)


def test_transient_errors_are_retried_inside(client: Any, ok_workflow: str, emulator: Any) -> None:
    run = client.runs.create(ok_workflow, input_values={"month": "x"})
    emulator.admin.set_faults(
        {
            "rules": [
                {"route": "GET /v1/runs*", "kind": "503", "rate": 0.5},
                {"route": "GET /v1/runs*", "kind": "drop", "times": 2},
                {"route": "GET /v1/runs*", "kind": "429", "times": 2, "retry_after": 0.1},
            ]
        }
    )
    try:
        event = first_event(CyberdeskRunTrigger(run_id=run.id, poll_interval=0.2))
    finally:
        emulator.admin.clear_faults()
    assert event["status"] == "success"


def test_rejected_key_is_an_error_event(
    emulator: Any, client: Any, ok_workflow: str, monkeypatch: Any
) -> None:
    run = client.runs.create(ok_workflow, input_values={"month": "x"})
    monkeypatch.setenv("AIRFLOW_CONN_CD_REVOKED", connection_json(emulator.url, "cd_revoked_key"))
    event = first_event(CyberdeskRunTrigger(conn_id="cd_revoked", run_id=run.id, poll_interval=0.2))
    assert event["status"] == "error"
    assert "401" in event["message"] or "uthenticat" in event["message"]
    assert "cd_revoked_key" not in json.dumps(event)


def test_on_kill_cancels_unfinished_runs(client: Any, make_workflow: Any, emulator: Any) -> None:
    slow = make_workflow({"duration": 10_000})
    run = client.runs.create(slow)
    trigger = CyberdeskRunTrigger(run_id=run.id, poll_interval=0.2)

    async def main() -> None:
        task = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()
        await trigger.on_kill()

    asyncio.run(main())
    assert client.runs.get(run.id).status == "cancelled"
    assert cancelled_in_emulator(emulator, run.id)


def test_on_kill_respects_cancel_on_kill_false(client: Any, make_workflow: Any) -> None:
    slow = make_workflow({"duration": 10_000})
    run = client.runs.create(slow)
    asyncio.run(CyberdeskRunTrigger(run_id=run.id, cancel_on_kill=False).on_kill())
    assert not client.runs.get(run.id).is_terminal
    client.runs.cancel(run.id)
