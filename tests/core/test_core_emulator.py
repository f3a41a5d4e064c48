"""The core client against the local emulator over a real loopback socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, RunStatus, RunWatcher
from cyberdesk_core.waiting import await_run, wait_for_run

pytest.importorskip("cyberdesk_emulator")

WORKFLOW = "00000000-0000-4000-8000-0000000000aa"
SEED = {
    "workflows": [
        {
            "id": WORKFLOW,
            "name": "monthly close",
            "behavior": {
                "duration": 2,
                "outcome": "success",
                "output": {"month": "{{ inputs.month }}"},
                "files": [{"name": "../tb_{{ inputs.month }}.csv", "content": "a,b\n1,2\n"}],
            },
        }
    ],
    "machines": [{"name": f"desk-{i}"} for i in range(4)],
}


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    from cyberdesk_emulator import EmulatorServer
    from cyberdesk_emulator.pytest_plugin import FAST_TIME_SCALE

    with EmulatorServer(seed=SEED, time_scale=FAST_TIME_SCALE) as emu:
        yield emu


@pytest.fixture
def emulator(server: Any) -> Any:
    server.admin.clear_faults()
    server.admin.reset_stats()
    return server


def test_create_wait_download(emulator: Any, tmp_path: Path) -> None:
    with CyberdeskClient(emulator.api_key, base_url=emulator.url) as client:
        assert client.health()
        run = client.runs.create(
            WORKFLOW, input_values={"month": "2026-10"}, sensitive_input_values={"pw": "s3cret"}
        )
        assert run.status is RunStatus.SCHEDULING
        assert run.sensitive_input_aliases is not None
        assert "s3cret" not in str(run.sensitive_input_aliases)
        done = wait_for_run(client, run.id, poll_interval=0.05, max_poll_interval=0.2, timeout=30)
        assert done.output_data == {"month": "2026-10"}
        outputs = client.run_attachments.list(run_id=run.id, attachment_type="output")
        assert outputs.total == 1
        result = client.run_attachments.download(outputs.items[0].id, tmp_path)
        # The server-supplied "../tb_2026-10.csv" is reduced to a basename inside tmp_path.
        assert result.path == tmp_path / "tb_2026-10.csv"
        assert result.path.read_bytes() == b"a,b\n1,2\n"
        page = client.runs.list(workflow_id=WORKFLOW, fields=["ended_at"], limit=5)
        assert page.items[0].id == run.id
        assert page.items[0].output_data is None


def test_lost_create_response_is_retried_without_duplicates(emulator: Any) -> None:
    emulator.admin.set_faults(
        {"rules": [{"route": "POST /v1/runs", "kind": "503", "times": 2, "phase": "after"}]}
    )
    sleeps: list[float] = []
    with CyberdeskClient(emulator.api_key, base_url=emulator.url, sleep=sleeps.append) as client:
        run = client.runs.create(WORKFLOW, input_values={"month": "2026-11"})
    stats = emulator.admin.stats()
    assert stats["runs_created"] == 1
    assert list(stats["creates_by_idempotency_key"].values()) == [1]  # one key, one run
    assert len(sleeps) == 2
    assert run.id


async def test_watcher_batches_bulk_runs(emulator: Any) -> None:
    async with AsyncCyberdeskClient(emulator.api_key, base_url=emulator.url) as aclient:
        bulk = await aclient.runs.bulk_create(WORKFLOW, 12, input_values={"month": "2026-12"})
        emulator.admin.reset_stats()
        async with RunWatcher(aclient, poll_interval=0.05) as watcher:
            runs = await asyncio.gather(
                *(
                    await_run(
                        aclient,
                        r.id,
                        watcher=watcher,
                        workflow_id=WORKFLOW,
                        created_at=r.created_at,
                        timeout=30,
                    )
                    for r in bulk.created_runs
                )
            )
    assert [r.status for r in runs] == [RunStatus.SUCCESS] * 12
    assert all(r.output_data and r.ended_at for r in runs)  # complete without a GET
    routes = emulator.admin.stats()["requests_by_route"]
    assert routes.get("GET /v1/runs/{run_id}", 0) == 0  # finished runs come from the list
    assert routes.get("GET /v1/runs", 0) >= 1
