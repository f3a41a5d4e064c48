"""Bulk runs (100 at once, shared polling) and chains with `$ref` between steps."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect_seed import WATCH, WF_DOUBLE, WF_ERROR, WF_OK, WF_SLOW, no_retry_credentials

from cyberdesk_core import ChainStep, RefValue, RunFailedError, RunTimeoutError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    abulk_create_cyberdesk_runs,
    arun_cyberdesk_chain,
    await_cyberdesk_runs,
    bulk_create_cyberdesk_runs,
    run_cyberdesk_chain,
    trigger_cyberdesk_run,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskBulkResult, CyberdeskChainResult, CyberdeskRunResult


def _get_requests(stats: dict[str, Any]) -> int:
    return sum(
        n for route, n in stats["requests_by_route"].items() if route.startswith("GET /v1/runs/")
    )


def _list_requests(stats: dict[str, Any]) -> int:
    routes: dict[str, int] = stats["requests_by_route"]
    return routes.get("GET /v1/runs", 0)


def test_bulk_of_one_hundred_shares_polling(credentials: CyberdeskCredentials, admin: Any) -> None:
    before = admin.stats()

    @flow
    def batch() -> tuple[CyberdeskBulkResult, list[CyberdeskRunResult]]:
        created = bulk_create_cyberdesk_runs(
            credentials, WF_DOUBLE, 100, input_values={"value": "x"}
        )
        return created, wait_for_cyberdesk_runs(credentials, created, **WATCH)

    created, results = batch()
    after = admin.stats()
    assert len(created.run_ids) == 100
    assert created.failed_count == 0
    assert [r.run_id for r in results] == created.run_ids
    assert {r.status for r in results} == {"success"}
    assert after["runs_created"] - before["runs_created"] == 100
    # Grouped polling: list calls plus one GET per ended run, not a GET per run per poll.
    assert _get_requests(after) - _get_requests(before) <= 100
    assert _list_requests(after) - _list_requests(before) >= 1
    key = f"cyberdesk-batch-{created.run_ids[0]}"
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert artifacts
    assert "**100** success" in str(artifacts[0].data)


async def test_async_bulk_of_one_hundred(credentials: CyberdeskCredentials, admin: Any) -> None:
    before = admin.stats()["runs_created"]

    @flow
    async def batch() -> list[CyberdeskRunResult]:
        created = await abulk_create_cyberdesk_runs(
            credentials, WF_DOUBLE, 100, input_values={"value": "y"}
        )
        return await await_cyberdesk_runs(credentials, created, **WATCH)

    results = await batch()
    assert len(results) == 100
    assert {r.status for r in results} == {"success"}
    assert admin.stats()["runs_created"] - before == 100


def test_bulk_task_retry_does_not_create_the_batch_twice(
    emulator: Any, admin: Any, no_faults: None
) -> None:
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "POST /v1/runs/bulk", "kind": "503", "phase": "after", "times": 1}]}
    )
    before = admin.stats()["runs_created"]
    retried = bulk_create_cyberdesk_runs.with_options(retries=1, retry_delay_seconds=0)

    @flow
    def batch() -> CyberdeskBulkResult:
        return retried(credentials, WF_DOUBLE, 5)

    assert len(batch().run_ids) == 5
    assert admin.stats()["runs_created"] - before == 5


@pytest.mark.parametrize(("policy", "raises"), [("any", True), ("all", False), ("never", False)])
def test_wait_for_runs_fail_policy(
    credentials: CyberdeskCredentials, policy: Literal["any", "all", "never"], raises: bool
) -> None:
    @flow
    def mixed() -> list[CyberdeskRunResult]:
        good = trigger_cyberdesk_run(credentials, WF_OK, input_values={"month": "01"})
        bad = trigger_cyberdesk_run(credentials, WF_ERROR)
        return wait_for_cyberdesk_runs(
            credentials, [good, bad.run_id], fail_on=policy, create_artifact=False, **WATCH
        )

    if raises:
        with pytest.raises(RunFailedError, match="1 of 2"):
            mixed()
    else:
        assert sorted(r.status for r in mixed()) == ["error", "success"]


def test_wait_for_runs_timeout_cancels_unfinished_runs(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    @flow
    def stuck() -> list[CyberdeskRunResult]:
        created = bulk_create_cyberdesk_runs(credentials, WF_SLOW, 3)
        return wait_for_cyberdesk_runs(credentials, created, timeout=0.5, **WATCH)

    state = stuck(return_state=True)
    with pytest.raises(RunTimeoutError):
        state.result()
    with get_client(sync_client=True) as client:
        labels = client.read_flow_run(state.state_details.flow_run_id).labels  # type: ignore[arg-type]
    run_ids = [v for k, v in labels.items() if k.startswith("cyberdesk.run.")]
    assert len(run_ids) == 3
    assert {admin.run_state(r)["run"]["status"] for r in run_ids} == {"cancelled"}


CHAIN_STEPS = [
    {"workflow_id": WF_DOUBLE, "session_alias": "first", "inputs": {"value": "41"}},
    {
        "workflow_id": WF_DOUBLE,
        "session_alias": "second",
        "inputs": {"value": {"$ref": "first.outputs.value"}},
    },
]


def test_chain_passes_outputs_by_ref(credentials: CyberdeskCredentials, core_client: Any) -> None:
    @flow
    def chained() -> CyberdeskChainResult:
        return run_cyberdesk_chain(credentials, CHAIN_STEPS, **WATCH)

    result = chained()
    assert len(result.run_ids) == 2
    assert {r.session_id for r in result.results} == {result.session_id}
    assert result.outputs == {"first": {"value": "41"}, "second": {"value": "41"}}
    stored = core_client.runs.get(result.run_ids[1])
    assert stored.input_values == {"value": {"$ref": "first.outputs.value"}}


async def test_async_chain_with_chain_step_objects(credentials: CyberdeskCredentials) -> None:
    steps = [
        ChainStep(WF_OK, session_alias="report", inputs={"month": "2026-07"}),
        ChainStep(
            WF_DOUBLE, session_alias="check", inputs={"value": RefValue("report.outputs.total")}
        ),
    ]

    @flow
    async def chained() -> CyberdeskChainResult:
        return await arun_cyberdesk_chain(credentials, steps, **WATCH)

    result = await chained()
    assert result.by_alias["report"].output_data == {"month": "2026-07", "total": 42}
    assert str(result.by_alias["check"].output_data["value"]) == "42"  # type: ignore[index]


def test_chain_failure_raises_for_the_failed_step(credentials: CyberdeskCredentials) -> None:
    steps = [{"workflow_id": WF_ERROR, "session_alias": "broken"}]

    @flow
    def chained() -> CyberdeskChainResult:
        return run_cyberdesk_chain(credentials, steps, **WATCH)

    with pytest.raises(RunFailedError, match="ERP unreachable"):
        chained()


def test_chain_without_wait_returns_the_run_ids(credentials: CyberdeskCredentials) -> None:
    @flow
    def chained() -> CyberdeskChainResult:
        created = run_cyberdesk_chain(credentials, CHAIN_STEPS, wait=False)
        waited = wait_for_cyberdesk_runs(credentials, created, create_artifact=False, **WATCH)
        assert [r.status for r in waited] == ["success", "success"]
        return created

    result = chained()
    assert len(result.run_ids) == 2
    assert result.results == []
