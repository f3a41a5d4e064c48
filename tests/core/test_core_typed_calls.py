# mypy: disallow-untyped-defs, warn-unused-ignores
"""Every method called with every keyword it takes, checked twice.

Statically, `mypy tests/core cyberdesk_core` type-checks these calls against the option
TypedDicts, and every `# type: ignore[...]` below marks a call mypy must reject: with
warn-unused-ignores an ignore that is no longer needed is itself an error, so a signature that
stops catching a misspelled, missing or wrongly typed keyword fails the type check. At run time
the same calls go to a fake API, and the misspelled ones raise TypeError before any request.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from core_fakes import FakeAPI, FakeClock, page_json, run_json

from cyberdesk_core import (
    AsyncCyberdeskClient,
    AttachmentType,
    ChainStep,
    CyberdeskClient,
    FileInput,
    Run,
    RunStatus,
    await_run,
    wait_for_run,
)

WHEN = datetime(2026, 11, 1, tzinfo=timezone.utc)
DEADLINE = datetime(2026, 12, 1, tzinfo=timezone.utc)
KEYS = {"k-create", "k-retry", "k-bulk", "k-chain", "k-att"}
CONTENT = b"hello"
# One object every model parses (responses keep unknown fields): a finished run, an
# attachment, a machine, a pool and a workflow at once.
ANY_OBJECT = {
    **run_json(status="success"),
    "run_id": "run-1",
    "name": "n",
    "filename": "f.txt",
    "content_type": "text/plain",
    "attachment_type": "output",
    "size_bytes": len(CONTENT),
}
COLLECTIONS = {"/v1/runs", "/v1/run-attachments", "/v1/machines", "/v1/pools", "/v1/workflows"}


def answer(request: httpx.Request) -> httpx.Response:
    """A plausible success response for any endpoint of the API."""
    path = request.url.path
    if request.method == "DELETE":
        return httpx.Response(204)
    if path.endswith("/download"):
        return httpx.Response(200, content=CONTENT)
    body: Any = ANY_OBJECT
    if path.endswith("/download-url"):
        body = {"url": "https://files.example/f", "expires_in": 60}
    elif path == "/v1/runs/bulk":
        body = {"created_runs": [ANY_OBJECT]}
    elif path == "/v1/runs/chain":
        body = {"session_id": "s-1", "run_ids": ["run-1"]}
    elif request.method == "GET" and path.endswith("/pools") and path != "/v1/pools":
        body = [ANY_OBJECT]
    elif request.method == "GET" and path in COLLECTIONS:
        body = page_json([ANY_OBJECT])
    return httpx.Response(200, json=body)


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI(handler=answer)


def sync_calls(c: CyberdeskClient, clock: FakeClock) -> None:
    """Each blocking method once, with all its keywords."""
    file = FileInput.from_bytes("in.txt", CONTENT, target_path="~/in")
    run: Run = c.runs.create(
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
    c.runs.get(run.id, include=["workflow"])
    c.runs.list(
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
        skip=0,
        limit=10,
    )
    runs: list[Run] = list(
        c.runs.iter(
            workflow_id="wf-1",
            machine_id="m-1",
            session_id="s-1",
            status="running",
            created_at_from=WHEN,
            created_at_to=WHEN,
            sort_mode="created_at_desc",
            search="acme",
            deep_search=True,
            fields=iter(["ended_at"]),
            include=["workflow"],
            page_size=10,
        )
    )
    assert [r.id for r in runs] == ["run-1"]
    c.runs.update(run.id, output_data={"a": 1})
    c.runs.cancel(run.id)
    c.runs.retry(
        run.id,
        input_values={"month": "2026-11"},
        sensitive_input_values={"password": "pw"},
        file_inputs=[file],
        machine_id="m-1",
        pool_ids=["p-1"],
        reuse_session=True,
        session_id="s-1",
        start_session=False,
        session_alias="again",
        release_session_after=False,
        is_priority=False,
        idempotency_key="k-retry",
    )
    c.runs.bulk_create(
        "wf-1",
        2,
        input_values={"month": "2026-10"},
        sensitive_input_values={"password": "pw"},
        file_inputs=[file],
        machine_id="m-1",
        pool_ids=["p-1"],
        session_id="s-1",
        start_session=True,
        is_priority=True,
        idempotency_key="k-bulk",
    )
    c.runs.chain(
        [ChainStep(workflow_id="wf-1", session_alias="a"), {"workflow_id": "wf-2"}],
        shared_inputs={"month": "2026-10"},
        shared_sensitive_inputs={"password": "pw"},
        shared_file_inputs=[file],
        keep_session_after_completion=True,
        machine_id="m-1",
        pool_ids=["p-1"],
        session_id="s-1",
        is_priority=False,
        idempotency_key="k-chain",
    )
    c.runs.delete(run.id)
    att = c.run_attachments
    att.list(run_id=run.id, attachment_type=AttachmentType.OUTPUT, skip=0, limit=10)
    assert len(list(att.iter(run_id=run.id, attachment_type="output", page_size=10))) == 1
    att.get("att-1")
    assert att.download("att-1", io.BytesIO()).size_bytes == len(CONTENT)
    att.get_download_url("att-1", expires_in=60)
    att.create(
        run.id,
        filename="f.txt",
        content=CONTENT,
        content_type="text/plain",
        attachment_type="input",
        target_path="~/in",
        cleanup_imports_after_run=True,
        expires_at=WHEN,
        idempotency_key="k-att",
    )
    att.delete("att-1")
    c.machines.list(
        search="pc",
        name="pc-1",
        status="online",
        created_at_from=WHEN,
        created_at_to=WHEN,
        include="pools",
        skip=0,
        limit=10,
    )
    c.machines.get("m-1", include=["pools"])
    c.machines.create(fingerprint="fp", unkey_key_id="uk", name="pc-1")
    c.machines.update("m-1", name="pc-2")
    c.machines.get_pools("m-1")
    c.machines.update_pools("m-1", ["p-1"])
    c.machines.clear_session("m-1")
    c.machines.delete("m-1")
    c.pools.list(include="machines", skip=0, limit=10)
    c.pools.get("p-1", include="machines")
    c.pools.create("pool", description="d")
    c.pools.update("p-1", name="pool-2")
    c.pools.add_machines("p-1", ["m-1"])
    c.pools.remove_machines("p-1", ["m-1"])
    c.pools.delete("p-1")
    c.workflows.list(
        search="tb",
        created_at_from=WHEN,
        created_at_to=WHEN,
        updated_at_from=WHEN,
        updated_at_to=WHEN,
        tag_ids=["t-1", "t-2"],
        include="tags",
        skip=0,
        limit=10,
    )
    c.workflows.get("wf-1", include="tags")
    c.workflows.create("prompt", name="wf")
    c.workflows.update("wf-1", name="wf-2")
    c.workflows.delete("wf-1")
    assert c.health()
    done = wait_for_run(
        c,
        run.id,
        poll_interval=1.0,
        max_poll_interval=2.0,
        timeout=10.0,
        deadline=DEADLINE,
        on_status_change=lambda r: None,
        raise_on_failure=False,
        sleep=clock.sleep,
        clock=clock,
    )
    assert done.status is RunStatus.SUCCESS


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


def test_every_sync_method_with_every_keyword(api: FakeAPI, client: CyberdeskClient) -> None:
    sync_calls(client, FakeClock())
    assert {r.headers.get("idempotency-key") for r in api.requests} >= KEYS


async def test_every_async_method_with_every_keyword(
    api: FakeAPI, aclient: AsyncCyberdeskClient
) -> None:
    await async_calls(aclient, FakeClock())
    assert {r.headers.get("idempotency-key") for r in api.requests} >= KEYS
    await aclient.aclose()


def misspelled_sync(c: CyberdeskClient) -> list[Callable[[], object]]:
    """One misspelled keyword per option set (blocking client and wait_for_run)."""
    return [
        lambda: c.runs.create("wf-1", idempotency_kee="k"),  # type: ignore[call-arg]
        lambda: c.runs.list(workflow="wf-1"),  # type: ignore[call-arg]
        lambda: c.runs.iter(page_sise=10),  # type: ignore[call-arg]
        lambda: c.runs.iter(skip=10),  # type: ignore[call-arg]
        lambda: c.runs.retry("run-1", reuse_sessions=True),  # type: ignore[call-arg]
        lambda: c.runs.bulk_create("wf-1", 2, session_alias="a"),  # type: ignore[call-arg]
        lambda: c.runs.chain([], shared_input={}),  # type: ignore[call-arg]
        lambda: c.run_attachments.list(run="run-1"),  # type: ignore[call-arg]
        lambda: c.run_attachments.iter(attachment="output"),  # type: ignore[call-arg]
        lambda: c.run_attachments.create(  # type: ignore[call-arg]
            "run-1",
            filename="f",
            content=b"",
            content_type="text/plain",
            attachment_type="input",
            target="~",
        ),
        lambda: c.run_attachments.create("run-1", filename="f"),  # type: ignore[call-arg]
        lambda: c.machines.list(names="pc"),  # type: ignore[call-arg]
        lambda: c.workflows.list(tags=["t"]),  # type: ignore[call-arg]
        lambda: wait_for_run(c, "run-1", poll=1.0),  # type: ignore[call-arg]
    ]


def misspelled_async(c: AsyncCyberdeskClient) -> list[Callable[[], Any]]:
    """The same misspellings against the asyncio client and await_run."""
    return [
        lambda: c.runs.create("wf-1", idempotency_kee="k"),  # type: ignore[call-arg]
        lambda: c.runs.list(workflow="wf-1"),  # type: ignore[call-arg]
        lambda: c.runs.iter(page_sise=10),  # type: ignore[call-arg]
        lambda: c.runs.iter(skip=10),  # type: ignore[call-arg]
        lambda: c.runs.retry("run-1", reuse_sessions=True),  # type: ignore[call-arg]
        lambda: c.runs.bulk_create("wf-1", 2, session_alias="a"),  # type: ignore[call-arg]
        lambda: c.runs.chain([], shared_input={}),  # type: ignore[call-arg]
        lambda: c.run_attachments.list(run="run-1"),  # type: ignore[call-arg]
        lambda: c.run_attachments.iter(attachment="output"),  # type: ignore[call-arg]
        lambda: c.run_attachments.create(  # type: ignore[call-arg]
            "run-1",
            filename="f",
            content=b"",
            content_type="text/plain",
            attachment_type="input",
            target="~",
        ),
        lambda: c.run_attachments.create("run-1", filename="f"),  # type: ignore[call-arg]
        lambda: c.machines.list(names="pc"),  # type: ignore[call-arg]
        lambda: c.workflows.list(tags=["t"]),  # type: ignore[call-arg]
        lambda: await_run(c, "run-1", poll=1.0),  # type: ignore[call-arg]
    ]


def test_misspelled_keywords_raise_type_error(api: FakeAPI, client: CyberdeskClient) -> None:
    for call in misspelled_sync(client):
        with pytest.raises(TypeError, match=r"unexpected keyword argument|missing required"):
            # Raised by the call itself: `iter` checks its filters before the first page.
            call()
    assert api.requests == []


async def settle(call: Callable[[], Any]) -> None:
    """Call, and await the result when it is a coroutine (`iter` is not: it raises at once)."""
    pending = call()
    if inspect.isawaitable(pending):
        await pending


async def test_misspelled_keywords_raise_type_error_async(
    api: FakeAPI, aclient: AsyncCyberdeskClient
) -> None:
    for call in misspelled_async(aclient):
        with pytest.raises(TypeError, match=r"unexpected keyword argument|missing required"):
            await settle(call)
    assert api.requests == []
    await aclient.aclose()


def test_sync_and_async_wrappers_share_option_sets() -> None:
    """Parameter names and annotations match, so both read the same option TypedDicts."""
    sync = CyberdeskClient("k", base_url="https://x")
    asyn = AsyncCyberdeskClient("k", base_url="https://x")
    for group in ("runs", "run_attachments", "machines", "pools", "workflows", "usage"):
        s, a = getattr(sync, group), getattr(asyn, group)
        for name in (n for n in dir(s) if not n.startswith("_")):
            s_params = inspect.signature(getattr(s, name)).parameters.values()
            a_params = inspect.signature(getattr(a, name)).parameters.values()
            assert [(p.name, p.kind, p.default, p.annotation) for p in s_params] == [
                (p.name, p.kind, p.default, p.annotation) for p in a_params
            ], (group, name)
    sync.close()


if TYPE_CHECKING:

    async def rejected_types(c: CyberdeskClient, a: AsyncCyberdeskClient) -> None:
        """Wrongly typed and missing keywords are type errors too (checked, never run)."""
        c.runs.create("wf-1", idempotency_key=3)  # type: ignore[arg-type]
        c.runs.list(limit="10")  # type: ignore[arg-type]
        c.runs.retry("run-1", pool_ids=[1])  # type: ignore[list-item]
        c.run_attachments.create(
            "run-1",
            filename="f",
            content="text",  # type: ignore[arg-type]
            content_type="text/plain",
            attachment_type="input",
        )
        await a.runs.chain([], keep_session_after_completion="yes")  # type: ignore[arg-type]
        wait_for_run(c, "run-1", poll_interval="5")  # type: ignore[arg-type]
