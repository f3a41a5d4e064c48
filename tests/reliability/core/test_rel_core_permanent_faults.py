"""Permanent faults (401, 404, 422) fail at once: one request, no retry, no sleep, a clear message.

Each case is checked for a plain call and for every waiting path (``wait_for_run``,
``await_run``, ``RunWatcher``): a wait must not poll through an error that can never go away.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rel_core_env import ECHO_WORKFLOW, SLOW_WORKFLOW

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AuthenticationError,
    CyberdeskClient,
    NotFoundError,
    RunWatcher,
    ValidationError,
    await_run,
    wait_for_run,
)


def _sync_client(emulator: Any, key: str, sleeps: list[float]) -> CyberdeskClient:
    return CyberdeskClient(key, base_url=emulator.url, max_retries=5, sleep=sleeps.append)


def _async_client(emulator: Any, key: str, sleeps: list[float]) -> AsyncCyberdeskClient:
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncCyberdeskClient(key, base_url=emulator.url, max_retries=5, sleep=record)


CASES: dict[str, tuple[type[Exception], str, tuple[str, ...]]] = {
    # name: (error class, route that must be hit exactly once, words the message must contain)
    "401-create": (AuthenticationError, "POST /v1/runs", ("401", "API key", "CYBERDESK_API_KEY")),
    "404-create": (NotFoundError, "POST /v1/runs", ("404", "Workflow", "not found", "Check")),
    "422-create": (ValidationError, "POST /v1/runs", ("422", "workflow_id", "UUID", "Fix")),
    "404-get": (NotFoundError, "GET /v1/runs/{run_id}", ("404", "not found", "Check the id")),
    "422-get": (ValidationError, "GET /v1/runs/{run_id}", ("422", "run_id", "UUID", "Fix")),
}


def _call(name: str, client: CyberdeskClient) -> Callable[[], Any]:
    return {
        "401-create": lambda: client.runs.create(ECHO_WORKFLOW),
        "404-create": lambda: client.runs.create(str(uuid.uuid4())),
        "422-create": lambda: client.runs.create("not-a-uuid"),
        "404-get": lambda: client.runs.get(str(uuid.uuid4())),
        "422-get": lambda: client.runs.get("not-a-uuid"),
    }[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_permanent_fault_is_not_retried(name: str, emulator: Any, admin: Any) -> None:
    error, route, words = CASES[name]
    sleeps: list[float] = []
    key = "cd_wrong_key" if name.startswith("401") else emulator.api_key
    with _sync_client(emulator, key, sleeps) as client, pytest.raises(error) as caught:
        _call(name, client)()
    stats = admin.stats()
    assert stats["requests_by_route"] == {route: 1}
    assert sleeps == []
    assert stats["runs_created"] == 0
    message = str(caught.value)
    for word in words:
        assert word in message, (word, message)
    assert caught.value.status_code == int(name[:3])  # type: ignore[attr-defined]


def test_waits_stop_at_once_on_a_revoked_key(emulator: Any, admin: Any) -> None:
    """The key is revoked while runs are being waited for: every wait path gives up at once."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as good:
        run_ids = [good.runs.create(SLOW_WORKFLOW).id for _ in range(3)]
        created_at = good.runs.get(run_ids[2]).created_at
    admin.reset_stats()
    sleeps: list[float] = []

    with _sync_client(emulator, "cd_revoked", sleeps) as client, pytest.raises(AuthenticationError):
        wait_for_run(client, run_ids[0], poll_interval=0.01, timeout=60, sleep=sleeps.append)

    async def async_paths() -> tuple[BaseException, BaseException]:
        async with _async_client(emulator, "cd_revoked", sleeps) as aclient:
            with pytest.raises(AuthenticationError) as direct:
                await await_run(aclient, run_ids[1], poll_interval=0.01, timeout=60)
            async with RunWatcher(aclient, poll_interval=0.01) as watcher:
                with pytest.raises(AuthenticationError) as watched:
                    await asyncio.wait_for(
                        watcher.wait(run_ids[2], workflow_id=SLOW_WORKFLOW, created_at=created_at),
                        timeout=30,
                    )
            return direct.value, watched.value

    asyncio.run(async_paths())
    stats = admin.stats()
    # One GET per waiter, nothing retried, nobody slept on a permanent error.
    assert stats["requests_by_route"] == {"GET /v1/runs/{run_id}": 3}
    assert sleeps == []
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as good:
        for run_id in run_ids:
            good.runs.cancel(run_id)


def test_wait_stops_at_once_when_a_seen_run_disappears(emulator: Any, admin: Any) -> None:
    """A run that was read once and then deleted is a permanent 404, not a replica lag."""
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        run = client.runs.create(SLOW_WORKFLOW)
        calls = 0

        def delete_after_first_poll(seconds: float) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                client.runs.delete(run.id)

        with pytest.raises(NotFoundError) as caught:
            wait_for_run(
                client, run.id, poll_interval=0.01, timeout=60, sleep=delete_after_first_poll
            )
    assert calls == 1
    assert run.id in str(caught.value)
