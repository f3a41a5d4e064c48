"""The watcher hub under Prefect: task timeouts, bulk waits and async task waits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from prefect import flow
from prefect_seed import POLL, WATCH, WF_OK, WF_SLOW

from cyberdesk_core import Run
from cyberdesk_core.watch_hub import HUB, HubStoppedError
from cyberdesk_prefect import (
    CyberdeskCredentials,
    await_cyberdesk_run,
    wait_for_cyberdesk_run,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskRunResult


def _until(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def slow_run(core_client: Any) -> Iterator[Run]:
    """A run that never ends by itself; cancelled after the test if still active."""
    run = core_client.runs.create(WF_SLOW)
    yield run
    if not core_client.runs.get(run.id).status.is_terminal:
        core_client.runs.cancel(run.id)


def test_task_timeout_unregisters_the_wait_and_cancels_the_run(
    credentials: CyberdeskCredentials, admin: Any, slow_run: Run
) -> None:
    @flow
    def stuck() -> CyberdeskRunResult:
        return wait_for_cyberdesk_run.with_options(timeout_seconds=1)(
            credentials, slow_run.id, **POLL
        )

    state = stuck(return_state=True)
    assert state.is_failed()
    _until(lambda: slow_run.id not in HUB.watched_run_ids())
    assert admin.run_state(slow_run.id)["run"]["status"] == "cancelled"


def test_bulk_wait_timeout_unregisters_every_run(
    credentials: CyberdeskCredentials, admin: Any, core_client: Any
) -> None:
    run_ids = [core_client.runs.create(WF_SLOW).id for _ in range(3)]

    @flow
    def stuck() -> list[CyberdeskRunResult]:
        return wait_for_cyberdesk_runs.with_options(timeout_seconds=1)(
            credentials, run_ids, **WATCH
        )

    assert stuck(return_state=True).is_failed()
    _until(lambda: not set(run_ids) & HUB.watched_run_ids())
    assert {admin.run_state(i)["run"]["status"] for i in run_ids} == {"cancelled"}


async def _until_async(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.05)


async def _watched_async_wait(credentials: CyberdeskCredentials, run: Run) -> asyncio.Future[Any]:
    """An async wait task for `run`, returned once the hub polls the run."""
    waiting = asyncio.ensure_future(
        await_cyberdesk_run.fn(credentials, run.id, create_artifact=False, **POLL)
    )
    await _until_async(lambda: run.id in HUB.watched_run_ids())
    return waiting


async def test_cancelled_async_wait_unregisters_the_wait(
    credentials: CyberdeskCredentials, slow_run: Run
) -> None:
    waiting = await _watched_async_wait(credentials, slow_run)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await _until_async(lambda: slow_run.id not in HUB.watched_run_ids())


async def test_a_stopped_hub_fails_async_waits_at_once(
    credentials: CyberdeskCredentials, core_client: Any, slow_run: Run
) -> None:
    # No timer backs an async wait: the hub thread fails what it leaves pending as it stops.
    await await_cyberdesk_run.fn(
        credentials, core_client.runs.create(WF_OK).id, create_artifact=False, **POLL
    )
    loop = HUB._loop
    assert loop is not None
    waiting = await _watched_async_wait(credentials, slow_run)
    loop.call_soon_threadsafe(loop.stop)
    started = time.monotonic()
    with pytest.raises(HubStoppedError, match="thread stopped"):
        await waiting
    assert time.monotonic() - started < 2
    # The stopped loop still holds the watcher's task and client: finish and drop them.
    await asyncio.to_thread(loop.run_until_complete, HUB._stop_all())
    loop.close()
