"""`run_cyberdesk_workflow` across retries and at width: re-attach, re-run, a map of twenty,
concurrency limits, status events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from prefect import flow, get_client, unmapped
from prefect.client.schemas.objects import State
from prefect_flow_runs import labels_of
from prefect_seed import (
    POLL,
    WF_DOUBLE,
    WF_FLIP,
    WF_OK,
    no_retry_credentials,
)

from cyberdesk_prefect import (
    CyberdeskCredentials,
    arun_cyberdesk_workflow,
    run_cyberdesk_workflow,
)
from cyberdesk_prefect.cancellation import recorded_run_ids
from cyberdesk_prefect.results import CyberdeskRunResult


def test_task_retry_reattaches_instead_of_creating_a_second_run(
    emulator: Any, admin: Any, no_faults: None
) -> None:
    """The create succeeds but its response is lost; the retried task finds the same run."""
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "500", "phase": "after", "times": 1}]}
    )
    before = admin.stats()
    retried = run_cyberdesk_workflow.with_options(retries=2, retry_delay_seconds=0)

    @flow
    def flaky() -> CyberdeskRunResult:
        return retried(credentials, WF_DOUBLE, input_values={"value": 5}, **POLL)

    result = flaky()
    after = admin.stats()
    assert result.status == "success"
    assert after["runs_created"] - before["runs_created"] == 1
    new_keys = {
        k: v
        for k, v in after["creates_by_idempotency_key"].items()
        if k not in before["creates_by_idempotency_key"]
    }
    assert list(new_keys.values()) == [1]
    assert after["idempotent_replays"] - before["idempotent_replays"] >= 1


async def test_async_task_retry_reattaches(emulator: Any, admin: Any, no_faults: None) -> None:
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "502", "phase": "after", "times": 1}]}
    )
    before = admin.stats()["runs_created"]
    retried = arun_cyberdesk_workflow.with_options(retries=1, retry_delay_seconds=0)

    @flow
    async def flaky() -> CyberdeskRunResult:
        return await retried(credentials, WF_DOUBLE, input_values={"value": 6}, **POLL)

    assert (await flaky()).status == "success"
    assert admin.stats()["runs_created"] - before == 1


def test_retry_after_a_failed_run_reexecutes_the_same_run(
    credentials: CyberdeskCredentials, admin: Any, restore_behaviors: None
) -> None:
    """A Prefect retry of a run that ended in `error` re-runs it (same id), once per try."""
    admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "outcome": "error"})

    def fix_the_workflow(task: Any, task_run: Any, state: State[Any]) -> bool:
        admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "output": {"fixed": True}})
        return True

    retried = run_cyberdesk_workflow.with_options(
        retries=1, retry_delay_seconds=0, retry_condition_fn=fix_the_workflow
    )
    before = admin.stats()

    @flow
    def flip() -> CyberdeskRunResult:
        return retried(credentials, WF_FLIP, **POLL)

    result = flip()
    after = admin.stats()
    assert result.status == "success"
    assert result.output_data == {"fixed": True}
    assert after["runs_created"] - before["runs_created"] == 1
    route = "POST /v1/runs/{run_id}/retry"
    assert after["requests_by_route"].get(route, 0) - before["requests_by_route"].get(route, 0) == 1


def test_map_over_twenty_inputs(credentials: CyberdeskCredentials, admin: Any) -> None:
    before = admin.stats()["runs_created"]

    @flow
    def fan_out() -> list[CyberdeskRunResult]:
        futures = run_cyberdesk_workflow.map(
            unmapped(credentials),
            WF_DOUBLE,
            input_values=[{"value": i} for i in range(20)],
            create_artifact=False,
            poll_interval=unmapped(POLL["poll_interval"]),
            max_poll_interval=unmapped(POLL["max_poll_interval"]),
        )
        return [f.result() for f in futures]

    state = fan_out(return_state=True)
    results = state.result()
    assert sorted(recorded_run_ids(labels_of(state))) == sorted(r.run_id for r in results)
    assert [str(r.output_data["value"]) for r in results if r.output_data] == [
        str(i) for i in range(20)
    ]
    assert len({r.run_id for r in results}) == 20
    assert admin.stats()["runs_created"] - before == 20


def test_concurrency_limit_caps_runs_in_flight(
    credentials: CyberdeskCredentials, core_client: Any
) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    with get_client(sync_client=True) as client:
        existing = {limit.name for limit in client.read_global_concurrency_limits()}
        if "cyberdesk-test" not in existing:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="cyberdesk-test", limit=2)
            )

    @flow
    def throttled() -> list[CyberdeskRunResult]:
        futures = run_cyberdesk_workflow.map(
            unmapped(credentials),
            WF_OK,
            input_values=[{"month": f"2026-0{i}"} for i in range(1, 6)],
            concurrency_limit_name=unmapped("cyberdesk-test"),
            create_artifact=False,
            poll_interval=unmapped(POLL["poll_interval"]),
            max_poll_interval=unmapped(POLL["max_poll_interval"]),
        )
        return [f.result() for f in futures]

    results = throttled()
    runs = [core_client.runs.get(r.run_id) for r in results]
    events = sorted(
        [(r.created_at, 1) for r in runs] + [(r.ended_at, -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    assert peak <= 2


def test_missing_concurrency_limit_is_an_error(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    before = admin.stats()["runs_created"]

    @flow
    def throttled() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(
            credentials, WF_OK, concurrency_limit_name="no-such-limit", **POLL
        )

    with pytest.raises(Exception, match="no-such-limit"):
        throttled()
    assert admin.stats()["runs_created"] == before


def test_status_changes_become_prefect_events(
    credentials: CyberdeskCredentials, asserting_events_worker: Any, reset_worker_events: None
) -> None:
    @flow
    def report() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_OK, input_values={"month": "2026-01"}, **POLL)

    result = report()
    asserting_events_worker.drain()
    events = [
        e
        for e in asserting_events_worker._client.events
        if e.event.startswith("cyberdesk.run.")
        and e.resource.id == f"cyberdesk.run.{result.run_id}"
    ]
    names = [e.event for e in events]
    assert names[0] == "cyberdesk.run.scheduling"
    assert names[-1] == "cyberdesk.run.success"
    assert len(names) == len(set(names))  # one event per status change, not per poll
    related = {r.id for r in events[-1].related}
    assert f"cyberdesk.workflow.{WF_OK}" in related
    assert UUID(str(result.run_id))
