"""`cancel_active_runs` / `acancel_active_runs` / `cancel_if_active`: read first, cancel the rest.

Against the emulator over loopback: only runs that have not ended are cancelled (an ended run
keeps its status), repeated ids are handled once, the async form bounds its concurrency. Over a
MockTransport: a run that cannot be read or cancelled is logged and skipped (bulk) or raised
(single run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from core_fakes import API_KEY, BASE_URL, FakeAPI, run_json

from cyberdesk_core import (
    AsyncCyberdeskClient,
    ConfigurationError,
    CyberdeskClient,
    NotFoundError,
    RunStatus,
    ServerError,
    acancel_active_runs,
    acancel_if_active,
    cancel_active_runs,
    cancel_if_active,
)
from cyberdesk_core.waiting import wait_for_run

pytest.importorskip("cyberdesk_emulator")

SLOW = "00000000-0000-4000-8000-00000000c001"
FAST = "00000000-0000-4000-8000-00000000c002"
SEED = {
    "workflows": [
        # One simulated hour: still running whenever a test looks at it.
        {"id": SLOW, "name": "slow", "behavior": {"duration": 3600, "outcome": "success"}},
        {"id": FAST, "name": "fast", "behavior": {"duration": 1, "outcome": "success"}},
    ],
    "machines": [{"name": f"desk-{i}"} for i in range(6)],
}
GET_RUN = "GET /v1/runs/{run_id}"
PATCH_RUN = "PATCH /v1/runs/{run_id}"


@pytest.fixture
def emulator(cyberdesk_emulator_factory: Callable[..., Any]) -> Any:
    return cyberdesk_emulator_factory(seed=SEED)


@pytest.fixture
def emu_client(emulator: Any) -> Iterator[CyberdeskClient]:
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        yield client


def _finished_run(client: CyberdeskClient) -> str:
    run = client.runs.create(FAST)
    done = wait_for_run(client, run.id, poll_interval=0.02, max_poll_interval=0.1, timeout=30)
    assert done.status is RunStatus.SUCCESS
    return done.id


def _status(emulator: Any, run_id: str) -> str:
    return str(emulator.admin.run_state(run_id)["run"]["status"])


def test_only_active_runs_are_cancelled(emulator: Any, emu_client: CyberdeskClient) -> None:
    active = emu_client.runs.create(SLOW).id
    ended = _finished_run(emu_client)
    emulator.admin.reset_stats()

    assert cancel_active_runs(emu_client, [ended, active, active]) == [active]

    assert _status(emulator, active) == "cancelled"
    assert _status(emulator, ended) == "success"  # not relabelled as cancelled
    routes = emulator.admin.stats()["requests_by_route"]
    assert routes[GET_RUN] == 2  # the repeated id is read once
    assert routes[PATCH_RUN] == 1


def test_a_second_call_finds_nothing_to_cancel(emulator: Any, emu_client: CyberdeskClient) -> None:
    run_ids = [emu_client.runs.create(SLOW).id for _ in range(2)]
    assert cancel_active_runs(emu_client, run_ids) == run_ids
    emulator.admin.reset_stats()
    assert cancel_active_runs(emu_client, run_ids) == []
    assert PATCH_RUN not in emulator.admin.stats()["requests_by_route"]


def test_cancel_if_active_reports_what_it_did(emulator: Any, emu_client: CyberdeskClient) -> None:
    run_id = emu_client.runs.create(SLOW).id
    first = cancel_if_active(emu_client, run_id)
    assert first.cancelled
    assert first.run.status is RunStatus.CANCELLED

    again = cancel_if_active(emu_client, run_id)
    assert not again.cancelled
    assert again.run.status is RunStatus.CANCELLED

    ended = _finished_run(emu_client)
    untouched = cancel_if_active(emu_client, ended)
    assert not untouched.cancelled
    assert untouched.run.status is RunStatus.SUCCESS
    assert _status(emulator, ended) == "success"


async def test_async_cancels_active_runs_in_the_given_order(
    emulator: Any, emu_client: CyberdeskClient
) -> None:
    active = [emu_client.runs.create(SLOW).id for _ in range(5)]
    ended = _finished_run(emu_client)
    run_ids = [active[0], ended, *active[1:]]
    async with AsyncCyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        assert await acancel_active_runs(client, run_ids, concurrency=2) == active
        outcome = await acancel_if_active(client, ended)
    assert not outcome.cancelled
    assert outcome.run.status is RunStatus.SUCCESS
    assert {_status(emulator, run_id) for run_id in active} == {"cancelled"}
    assert _status(emulator, ended) == "success"


def test_failing_runs_are_logged_and_skipped(
    client: CyberdeskClient, api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.queue("GET", "/v1/runs/broken", run_json("broken"))
    api.queue("PATCH", "/v1/runs/broken", httpx.Response(500, json={"detail": "boom"}))
    api.queue("GET", "/v1/runs/gone", httpx.Response(404, json={"detail": "Run not found"}))
    api.queue("GET", "/v1/runs/ok", run_json("ok"))
    api.queue("PATCH", "/v1/runs/ok", run_json("ok", status="cancelled"))
    logger = logging.getLogger("tests.cancelling")

    with caplog.at_level(logging.WARNING, logger="tests.cancelling"):
        assert cancel_active_runs(client, ["broken", "gone", "ok"], logger=logger) == ["ok"]

    warnings = [r.getMessage() for r in caplog.records if r.name == "tests.cancelling"]
    assert len(warnings) == 2
    assert warnings[0].startswith("Could not cancel Cyberdesk run broken:")
    assert warnings[1].startswith("Could not cancel Cyberdesk run gone:")
    assert all(API_KEY not in message for message in warnings)
    assert api.count("PATCH", "/v1/runs/gone") == 0  # an unreadable run is not cancelled blindly


def test_cancel_if_active_raises_what_failed(client: CyberdeskClient, api: FakeAPI) -> None:
    api.queue("GET", "/v1/runs/run-1", run_json("run-1"))
    api.queue("PATCH", "/v1/runs/run-1", httpx.Response(500, json={"detail": "boom"}))
    with pytest.raises(ServerError):
        cancel_if_active(client, "run-1")
    api.queue("GET", "/v1/runs/missing", httpx.Response(404, json={"detail": "nope"}))
    with pytest.raises(NotFoundError):
        cancel_if_active(client, "missing")


def test_invalid_ids_are_logged_without_a_request(
    client: CyberdeskClient, api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cyberdesk_core"):
        assert cancel_active_runs(client, ["a/b", ""]) == []
    assert len(api.requests) == 0
    assert sum("Could not cancel" in r.getMessage() for r in caplog.records) == 2


def test_argument_errors_are_raised(client: CyberdeskClient, aclient: AsyncCyberdeskClient) -> None:
    with pytest.raises(ConfigurationError, match="run_ids"):
        cancel_active_runs(client, "run-1")
    with pytest.raises(ConfigurationError, match="concurrency"):
        asyncio.run(acancel_active_runs(aclient, ["run-1"], concurrency=0))


async def test_async_failures_are_skipped_and_concurrency_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.01)
            run_id = request.url.path.rsplit("/", 1)[-1]
            if request.method == "GET":
                return httpx.Response(200, json=run_json(run_id))
            if run_id == "run-3":
                return httpx.Response(403, json={"detail": "not yours"})
            return httpx.Response(200, json=run_json(run_id, status="cancelled"))
        finally:
            in_flight -= 1

    run_ids = [f"run-{i}" for i in range(8)]
    transport = httpx.MockTransport(handler)
    async with AsyncCyberdeskClient(API_KEY, base_url=BASE_URL, transport=transport) as client:
        with caplog.at_level(logging.WARNING, logger="cyberdesk_core"):
            cancelled = await acancel_active_runs(client, run_ids, concurrency=3)

    assert cancelled == [run_id for run_id in run_ids if run_id != "run-3"]
    assert peak == 3
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 1
    assert messages[0].startswith("Could not cancel Cyberdesk run run-3:")
