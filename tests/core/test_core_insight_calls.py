"""Screenshot signed URLs, trajectory, LLM costs and usage aggregate, sync and async.

The local emulator does not serve these endpoints yet, so their answers come from `respx`
(shapes as in cyberdesk-api.md 4.10 and the official SDK 2.2.69).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx
from core_fakes import API_KEY, BASE_URL

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ConfigurationError,
    CyberdeskClient,
    NotFoundError,
    RunUsage,
    UsageMode,
    sum_usage,
)

RUN = "run-1"
IMAGE = "supabase://run-images/org/run-1/1.png"
SIGNED = {"supabase_url": IMAGE, "signed_url": "https://files.test/1.png?token=t", "expires_in": 60}
TRAJECTORY = {
    "id": "traj-1",
    "workflow_id": "wf-1",
    "trajectory_data": [{"step_index": 0, "tool_name": "computer"}],
    "dimensions": {"width": 1024, "height": 768},
    "is_approved": False,
    "brand_new_field": 1,
}
COSTS = {"run_id": RUN, "rows": [{"model": "m", "cost_usd": 0.5}], "has_unpriced": False}
AGGREGATE = {
    "total_agentic_steps": 12,
    "total_cached_steps": 3,
    "period_start": "2026-10-01T00:00:00+00:00",
    "period_end": "2026-11-01T00:00:00+00:00",
    "mode": "billed",
    "runs_counted": 4,
}
FROM = datetime(2026, 10, 1, tzinfo=timezone.utc)
TO = datetime(2026, 11, 1)  # naive: sent as UTC


@pytest.fixture
def mocked() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get(f"/v1/runs/{RUN}/image/signed-url").respond(json=SIGNED)
        router.get(f"/v1/runs/{RUN}/trajectory").respond(json=TRAJECTORY)
        router.get(f"/v1/runs/{RUN}/llm-costs").respond(json=COSTS)
        router.get("/v1/usage/aggregate").respond(json=AGGREGATE)
        yield router


def _params(router: respx.MockRouter, path: str) -> list[tuple[str, str]]:
    calls = [c for c in router.calls if c.request.url.path == path]
    return list(calls[-1].request.url.params.multi_items())


def _check(router: respx.MockRouter, results: list[Any]) -> None:
    signed, trajectory, costs, aggregate = results
    assert signed.signed_url.startswith("https://")
    assert signed.supabase_url == IMAGE
    assert _params(router, f"/v1/runs/{RUN}/image/signed-url") == [
        ("image_url", IMAGE),
        ("expires_in", "60"),
    ]
    assert trajectory.trajectory_data[0]["tool_name"] == "computer"
    assert trajectory.model_extra == {"brand_new_field": 1}
    assert costs.rows[0]["cost_usd"] == 0.5
    assert costs.total_cost_usd is None
    assert (aggregate.total_agentic_steps, aggregate.mode) == (12, UsageMode.BILLED)
    assert isinstance(aggregate.mode, UsageMode)
    assert _params(router, "/v1/usage/aggregate") == [
        ("from_date", "2026-10-01T00:00:00+00:00"),
        ("to_date", "2026-11-01T00:00:00+00:00"),
        ("mode", "billed"),
    ]


def test_sync_calls(mocked: respx.MockRouter) -> None:
    with CyberdeskClient(API_KEY, base_url=BASE_URL) as client:
        results = [
            client.runs.get_image_signed_url(RUN, IMAGE, expires_in=60),
            client.runs.trajectory(RUN),
            client.runs.llm_costs(RUN),
            client.usage.aggregate(FROM, TO, mode="billed"),
        ]
    _check(mocked, results)


async def test_async_calls(mocked: respx.MockRouter) -> None:
    async with AsyncCyberdeskClient(API_KEY, base_url=BASE_URL) as client:
        results = [
            await client.runs.get_image_signed_url(RUN, IMAGE, expires_in=60),
            await client.runs.trajectory(RUN),
            await client.runs.llm_costs(RUN),
            await client.usage.aggregate(FROM, TO, mode=UsageMode.BILLED),
        ]
    _check(mocked, results)


def test_default_expiry_and_mode(mocked: respx.MockRouter) -> None:
    with CyberdeskClient(API_KEY, base_url=BASE_URL) as client:
        client.runs.get_image_signed_url(RUN, IMAGE)
        client.usage.aggregate(FROM, TO)
    assert ("expires_in", "3600") in _params(mocked, f"/v1/runs/{RUN}/image/signed-url")
    assert [k for k, _ in _params(mocked, "/v1/usage/aggregate")] == ["from_date", "to_date"]


@pytest.mark.parametrize("expires_in", [9, 3601, 0, True, 60.0])
def test_expiry_is_checked_before_sending(mocked: respx.MockRouter, expires_in: Any) -> None:
    expected = r"expires_in must be .* between 10 and 3600"
    with (
        CyberdeskClient(API_KEY, base_url=BASE_URL) as client,
        pytest.raises(ConfigurationError, match=expected),
    ):
        client.runs.get_image_signed_url(RUN, IMAGE, expires_in=expires_in)
    assert not mocked.calls


def test_bad_arguments_are_named(mocked: respx.MockRouter) -> None:
    with CyberdeskClient(API_KEY, base_url=BASE_URL) as client:
        with pytest.raises(ConfigurationError, match="image_url"):
            client.runs.get_image_signed_url(RUN, " ")
        with pytest.raises(ConfigurationError, match="run_id"):
            client.runs.trajectory("a/b")
        with pytest.raises(ConfigurationError, match="mode must be one of simulated, billed"):
            client.usage.aggregate(FROM, TO, mode="monthly")
        with pytest.raises(ConfigurationError, match="from_date must be a datetime"):
            client.usage.aggregate("2026-10-01", TO)  # type: ignore[arg-type]
    assert not mocked.calls


def test_not_found_is_an_api_error(mocked: respx.MockRouter) -> None:
    mocked.get(f"/v1/runs/{RUN}/trajectory").mock(
        return_value=httpx.Response(404, json={"detail": "No trajectory found"})
    )
    with (
        CyberdeskClient(API_KEY, base_url=BASE_URL) as client,
        pytest.raises(NotFoundError, match="No trajectory found"),
    ):
        client.runs.trajectory(RUN)


def test_run_usage_from_metadata_and_sums() -> None:
    one = RunUsage.from_metadata({"total_agentic_steps": 5, "total_cached_steps": 2, "x": 1})
    other = RunUsage.from_metadata({"agentic_steps": 3, "cached_steps": "n/a"})
    empty = RunUsage.from_metadata(None)
    assert (one.agentic_steps, one.cached_steps, other.agentic_steps, other.cached_steps) == (
        5,
        2,
        3,
        0,
    )
    total = sum_usage([one, other, empty])
    assert total == RunUsage(agentic_steps=8, cached_steps=2, runs=3)
    assert total.describe() == "8 agent steps (2 cached) over 3 runs"
    assert sum_usage([]) == RunUsage()
