"""Every Cyberdesk run a flow run creates is recorded on it, however many tasks record at once.

The cancellation hook knows only the run ids recorded as flow-run labels. Prefect's server
merges new labels into the stored ones by read-modify-write, so concurrent label updates of one
flow run overwrite each other: with 200 mapped tasks on a PostgreSQL server 160 of 200 labels
were lost (tests/e2e/distributed/prefect). A process therefore sends one label update of a flow
run at a time, batching what its tasks queued meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
from prefect import flow, task, unmapped
from prefect.client.orchestration import PrefectClient, SyncPrefectClient

from cyberdesk_prefect import CyberdeskCredentials
from cyberdesk_prefect.cancellation import arecord_runs, record_runs, recorded_run_ids

N = 40


@task
def _record(index: int, credentials: CyberdeskCredentials) -> str:
    run_id = f"00000000-0000-4000-8000-{index:012d}"
    record_runs([run_id], credentials)
    return run_id


@task
async def _arecord(index: int, credentials: CyberdeskCredentials) -> str:
    run_id = f"00000000-0000-4000-9000-{index:012d}"
    await arecord_runs([run_id], credentials)
    return run_id


class _InFlight:
    """Counts label updates in flight at once (each held open a little to widen races)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = self.calls = 0

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def _spy(monkeypatch: pytest.MonkeyPatch) -> _InFlight:
    seen = _InFlight()
    sync_update: Callable[..., Any] = SyncPrefectClient.update_flow_run_labels
    async_update: Callable[..., Any] = PrefectClient.update_flow_run_labels

    def update(self: SyncPrefectClient, *args: Any, **kwargs: Any) -> Any:
        seen.enter()
        try:
            time.sleep(0.02)
            return sync_update(self, *args, **kwargs)
        finally:
            seen.leave()

    async def aupdate(self: PrefectClient, *args: Any, **kwargs: Any) -> Any:
        import asyncio

        seen.enter()
        try:
            await asyncio.sleep(0.02)
            return await async_update(self, *args, **kwargs)
        finally:
            seen.leave()

    monkeypatch.setattr(SyncPrefectClient, "update_flow_run_labels", update)
    monkeypatch.setattr(PrefectClient, "update_flow_run_labels", aupdate)
    return seen


def test_concurrent_tasks_record_every_run_one_update_at_a_time(
    credentials: CyberdeskCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy(monkeypatch)

    @flow
    def many() -> tuple[Any, list[str]]:
        from prefect.runtime import flow_run

        sync_ids = _record.map(range(N), unmapped(credentials)).result()
        # `Task.map` stubs match an async task to the sync overload; its futures hold strs.
        async_ids = cast(list[str], _arecord.map(range(N), unmapped(credentials)).result())
        return flow_run.id, [*sync_ids, *async_ids]

    flow_run_id, run_ids = many()
    from prefect import get_client

    with get_client(sync_client=True) as client:
        labels = dict(client.read_flow_run(flow_run_id).labels or {})
    assert sorted(recorded_run_ids(labels)) == sorted(run_ids)
    assert labels["cyberdesk.base_url"] == credentials.base_url
    # Never two updates of the flow run's labels at once, and what queued meanwhile was batched.
    assert seen.most == 1
    assert seen.calls < 2 * N
