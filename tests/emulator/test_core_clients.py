"""The same behaviours driven through ``cyberdesk_core`` (sync and async clients).

Retries never sleep for real: the clients get an injected no-op ``sleep``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AuthenticationError,
    ChainStep,
    ConflictError,
    CyberdeskClient,
    CyberdeskError,
    NotFoundError,
    RefValue,
    RunFailedError,
    RunStatus,
    RunWatcher,
    await_run,
    wait_for_run,
)
from cyberdesk_emulator import EmulatorServer

from .conftest import Api, new_org

Factory = Callable[..., EmulatorServer]
POLL: dict[str, Any] = {"poll_interval": 0.02, "max_poll_interval": 0.05, "timeout": 20.0}


def _client(api: Api) -> CyberdeskClient:
    return CyberdeskClient(api.key, base_url=api.server.url, sleep=lambda _: None)


def _aclient(api: Api) -> AsyncCyberdeskClient:
    async def no_sleep(_: float) -> None:
        return None

    return AsyncCyberdeskClient(api.key, base_url=api.server.url, sleep=no_sleep)


def test_sync_create_wait_outputs_and_download(api: Api, tmp_path: Path) -> None:
    behavior = {
        "duration": 1,
        "output": {"total": "{{ inputs.total }}"},
        "files": [{"name": "tb.csv", "content": "a,b\n1,2\n"}],
    }
    workflow = api.workflow(behavior=behavior)
    api.machine()
    with _client(api) as client:
        run = client.runs.create(
            workflow["id"], input_values={"total": 7}, sensitive_input_values={"pw": "x"}
        )
        assert run.status == RunStatus.SCHEDULING
        done = wait_for_run(client, run.id, **POLL)
        assert done.status == RunStatus.SUCCESS
        assert done.output_data == {"total": 7}
        page = client.run_attachments.list(run_id=run.id, attachment_type="output")
        assert page.total == 1
        result = client.run_attachments.download(page.items[0].id, tmp_path)
        assert result.path is not None
        assert result.path.read_bytes() == b"a,b\n1,2\n"
        assert result.size_bytes == 8
        signed = client.run_attachments.get_download_url(page.items[0].id, expires_in=60)
        assert httpx.get(signed.url).content == b"a,b\n1,2\n"
        assert client.run_url(run.id) == f"{api.server.url}/dashboard/runs/{run.id}"
        assert httpx.get(client.run_url(run.id)).status_code == 200


def test_sync_failures_cancel_retry(api: Api) -> None:
    failing = api.workflow(behavior={"duration": 0, "outcome": "error", "error_message": "boom"})
    long = api.workflow(behavior={"duration": 100_000})
    api.machine()
    with _client(api) as client:
        run = client.runs.create(failing["id"])
        with pytest.raises(RunFailedError, match="boom"):
            wait_for_run(client, run.id, **POLL)
        api.server.admin.set_workflow_behavior(failing["id"], {"duration": 0})
        retried = client.runs.retry(run.id)
        assert retried.id == run.id
        assert retried.status == RunStatus.SCHEDULING
        assert wait_for_run(client, run.id, **POLL).status == RunStatus.SUCCESS
        active = client.runs.create(long["id"])
        with pytest.raises(ConflictError):
            client.runs.retry(active.id)
        cancelled = client.runs.cancel(active.id)
        assert cancelled.status == RunStatus.CANCELLED


def test_sync_chain_with_refs_and_bulk(api: Api) -> None:
    producer = api.workflow(behavior={"duration": 1, "output": {"total": 99}})
    consumer = api.workflow(behavior={"duration": 1, "output": {"got": "{{ inputs.total }}"}})
    api.machine()
    with _client(api) as client:
        chain = client.runs.chain(
            [
                ChainStep(workflow_id=producer["id"], session_alias="s1"),
                ChainStep(
                    workflow_id=consumer["id"], inputs={"total": RefValue("s1.outputs.total")}
                ),
            ]
        )
        last = wait_for_run(client, chain.run_ids[-1], **POLL)
        assert last.output_data == {"got": 99}
        assert last.session_id == chain.session_id
        bulk = client.runs.bulk_create(producer["id"], 200)
        assert len(bulk.created_runs) == 200
        assert client.runs.list(workflow_id=producer["id"], limit=1).total == 201
        listed = list(client.runs.iter(workflow_id=producer["id"], page_size=50))
        assert len(listed) == 201


def test_sync_errors_map_to_the_exception_tree(api: Api, other_api: Api) -> None:
    workflow = api.workflow()
    with _client(other_api) as foreign, pytest.raises(NotFoundError):
        foreign.workflows.get(workflow["id"])
    bad = CyberdeskClient("cd_wrong", base_url=api.server.url, sleep=lambda _: None)
    with bad, pytest.raises(AuthenticationError):
        bad.runs.list()
    with _client(api) as client, pytest.raises(CyberdeskError):
        client.runs.bulk_create(workflow["id"], 1001)


def test_sync_retries_through_faults_without_duplicates(
    cyberdesk_emulator_factory: Factory,
) -> None:
    server = cyberdesk_emulator_factory()
    api = new_org(server)
    workflow = api.workflow()
    server.admin.set_faults(
        {
            "rules": [
                {"route": "POST /v1/runs", "kind": "503", "times": 1},
                {"route": "POST /v1/runs", "kind": "drop", "phase": "after", "times": 1},
                {"route": "POST /v1/runs", "kind": "429", "retry_after": 0, "times": 1},
                {"route": "GET /v1/runs/{run_id}", "kind": "drop", "times": 1},
            ]
        }
    )
    key = str(uuid.uuid4())
    with _client(api) as client:
        run = client.runs.create(workflow["id"], idempotency_key=key)
        assert client.runs.get(run.id).id == run.id
        assert client.runs.list().total == 1
    stats = server.admin.stats()
    assert stats["creates_by_idempotency_key"] == {key: 1}
    assert stats["faults_injected"] == {"503": 1, "drop": 2, "429": 1}


async def test_async_client_watcher_and_faults(cyberdesk_emulator_factory: Factory) -> None:
    server = cyberdesk_emulator_factory()
    api = new_org(server)
    workflow = api.workflow(behavior={"duration": [1, 5]})
    for i in range(3):
        api.machine(f"m{i}")
    server.admin.set_faults({"rules": [{"route": "POST /v1/runs/bulk", "kind": "502", "times": 1}]})
    async with _aclient(api) as client:
        bulk = await client.runs.bulk_create(workflow["id"], 20)
        assert len(bulk.created_runs) == 20
        async with RunWatcher(client, poll_interval=0.02, max_poll_interval=0.05) as watcher:
            finished = await asyncio.gather(
                *(
                    watcher.wait(r.id, workflow_id=workflow["id"], created_at=r.created_at)
                    for r in bulk.created_runs
                )
            )
        assert {r.status for r in finished} == {RunStatus.SUCCESS}
        single = await client.runs.create(workflow["id"], start_session=True)
        assert single.session_id == single.id
        done = await await_run(client, single.id, **POLL)
        assert done.status == RunStatus.SUCCESS
    assert server.admin.stats()["runs_created"] == 21


def test_sync_machines_pools_workflows_sessions(api: Api) -> None:
    with _client(api) as client:
        assert client.health()["status"] == "healthy"
        workflow = client.workflows.create("Export {month}", name="tb")
        assert client.workflows.get(workflow.id).name == "tb"
        machine = client.machines.create(fingerprint="fp", unkey_key_id="k", name="win-01")
        pool = client.pools.create("finance")
        with_machines = client.pools.add_machines(pool.id, [machine.id])
        assert [m.id for m in with_machines.machines or []] == [machine.id]
        assert [p.id for p in client.machines.get_pools(machine.id)] == [pool.id]
        assert client.machines.update_pools(machine.id, []).id == machine.id
        client.pools.add_machines(pool.id, [machine.id])
        client.pools.remove_machines(pool.id, [machine.id])
        assert client.pools.get(pool.id, include="machines").machine_count == 0
        api.server.admin.set_workflow_behavior(workflow.id, {"duration": 100_000})
        run = client.runs.create(workflow.id, start_session=True)
        wait_for_run_status = api.wait(run.id, {"running"})
        assert wait_for_run_status["machine_id"] == machine.id
        assert client.machines.get(machine.id).reserved_session_id == run.id
        cleared = client.machines.clear_session(machine.id)
        assert cleared.reserved_session_id is None
        assert client.runs.get(run.id).status == RunStatus.CANCELLED
        client.workflows.delete(workflow.id)
        with pytest.raises(NotFoundError):
            client.runs.get(run.id)
