# mypy: disallow-untyped-defs, warn-unused-ignores
"""Every asyncio method called with every keyword it takes (the blocking client's twin test is
`test_core_typed_calls.py`): type-checked against the option TypedDicts by mypy, and sent to a
fake API at run time."""

from __future__ import annotations

import io

import pytest
from core_fakes import FakeAPI, FakeClock
from typed_calls_api import CONTENT, DEADLINE, KEYS, WHEN, answer

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AttachmentType,
    FileInput,
    Run,
    RunStatus,
    await_run,
)


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI(handler=answer)


async def async_calls(c: AsyncCyberdeskClient, clock: FakeClock) -> None:
    """Each asyncio method once, with all its keywords."""
    file = FileInput.from_bytes("in.txt", CONTENT)
    run: Run = await c.runs.create(
        "wf-1",
        input_values={"month": "2026-10"},
        sensitive_input_values={"password": "pw"},
        file_inputs=[file],
        machine_id="m-1",
        pool_ids=["p-1"],
        session_id="s-1",
        start_session=False,
        session_alias="first",
        release_session_after=True,
        is_priority=True,
        main_prompt="prompt",
        model_metadata={"main_agent_model_id": "mod-1"},
        idempotency_key="k-create",
    )
    await c.runs.get(run.id, include="workflow")
    await c.runs.list(
        workflow_id="wf-1",
        machine_id="m-1",
        session_id="s-1",
        status="running",
        created_at_from=WHEN,
        created_at_to=WHEN,
        sort_mode="created_at_desc",
        search="acme",
        deep_search=True,
        fields=("ended_at",),
        include=["workflow"],
        skip=5,
        limit=10,
    )
    found = [
        r
        async for r in c.runs.iter(
            workflow_id="wf-1",
            machine_id="m-1",
            session_id="s-1",
            status=RunStatus.RUNNING,
            created_at_from=WHEN,
            created_at_to=WHEN,
            sort_mode="created_at_desc",
            search="acme",
            deep_search=False,
            fields=["ended_at"],
            include="workflow",
            page_size=10,
        )
    ]
    assert [r.id for r in found] == ["run-1"]
    await c.runs.update(run.id, output_data=None)
    await c.runs.cancel(run.id)
    await c.runs.retry(
        run.id,
        input_values={"month": "2026-11"},
        sensitive_input_values={"password": "pw"},
        file_inputs=[file],
        machine_id="m-1",
        pool_ids=["p-1"],
        reuse_session=False,
        session_id="s-1",
        start_session=True,
        session_alias="again",
        release_session_after=True,
        is_priority=True,
        idempotency_key="k-retry",
    )
    await c.runs.bulk_create(
        "wf-1",
        3,
        input_values={"month": "2026-10"},
        sensitive_input_values={"password": "pw"},
        file_inputs=[file],
        machine_id="m-1",
        pool_ids=["p-1"],
        session_id="s-1",
        start_session=False,
        is_priority=False,
        idempotency_key="k-bulk",
    )
    await c.runs.chain(
        [{"workflow_id": "wf-1", "session_alias": "a"}],
        shared_inputs={"month": "2026-10"},
        shared_sensitive_inputs={"password": "pw"},
        shared_file_inputs=[file],
        keep_session_after_completion=False,
        machine_id="m-1",
        pool_ids=["p-1"],
        session_id="s-1",
        is_priority=True,
        idempotency_key="k-chain",
    )
    await c.runs.delete(run.id)
    att = c.run_attachments
    await att.list(run_id=run.id, attachment_type="output", skip=0, limit=10)
    items = [a async for a in att.iter(run_id=run.id, attachment_type="input", page_size=10)]
    assert len(items) == 1
    await att.get("att-1")
    assert (await att.download("att-1", io.BytesIO())).size_bytes == len(CONTENT)
    await att.get_download_url("att-1", expires_in=60)
    await att.create(
        run.id,
        filename="f.txt",
        content=CONTENT,
        content_type="text/plain",
        attachment_type=AttachmentType.INPUT,
        target_path="~/in",
        cleanup_imports_after_run=False,
        expires_at=WHEN,
        idempotency_key="k-att",
    )
    await att.delete("att-1")
    await c.machines.list(
        search="pc",
        name="pc-1",
        status="online",
        created_at_from=WHEN,
        created_at_to=WHEN,
        include=["pools"],
        skip=0,
        limit=10,
    )
    await c.machines.get("m-1", include="pools")
    await c.machines.create(fingerprint="fp", unkey_key_id="uk")
    await c.machines.update("m-1", name="pc-2")
    await c.machines.get_pools("m-1")
    await c.machines.update_pools("m-1", [])
    await c.machines.clear_session("m-1")
    await c.machines.delete("m-1")
    await c.pools.list(include=["machines"], skip=0, limit=10)
    await c.pools.get("p-1", include=["machines"])
    await c.pools.create("pool")
    await c.pools.update("p-1", description=None)
    await c.pools.add_machines("p-1", ["m-1"])
    await c.pools.remove_machines("p-1", ["m-1"])
    await c.pools.delete("p-1")
    await c.workflows.list(
        search="tb",
        created_at_from=WHEN,
        created_at_to=WHEN,
        updated_at_from=WHEN,
        updated_at_to=WHEN,
        tag_ids=("t-1",),
        include=["tags"],
        skip=0,
        limit=10,
    )
    await c.workflows.get("wf-1", include=["tags"])
    await c.workflows.create("prompt")
    await c.workflows.update("wf-1", name="wf-2")
    await c.workflows.delete("wf-1")
    assert await c.health()
    done = await await_run(
        c,
        run.id,
        poll_interval=1.0,
        max_poll_interval=2.0,
        timeout=10.0,
        deadline=DEADLINE,
        on_status_change=lambda r: None,
        raise_on_failure=True,
        sleep=clock.asleep,
        clock=clock,
        watcher=None,
        workflow_id="wf-1",
        session_id="s-1",
        created_at=WHEN,
    )
    assert done.status is RunStatus.SUCCESS


async def test_every_async_method_with_every_keyword(
    api: FakeAPI, aclient: AsyncCyberdeskClient
) -> None:
    await async_calls(aclient, FakeClock())
    assert {r.headers.get("idempotency-key") for r in api.requests} >= KEYS
    await aclient.aclose()
