"""Every `runs` endpoint, sync and async: method, path, query, body, headers, parsing."""

from __future__ import annotations

import base64
import inspect
from datetime import datetime, timezone

import httpx
import pytest
from core_fakes import Case, FakeAPI, page_json, respond, run_json, verify

from cyberdesk_core import (
    AsyncCyberdeskClient,
    BulkCreateResult,
    ChainResult,
    ChainStep,
    CyberdeskClient,
    FileInput,
    Page,
    RefValue,
    Run,
    RunStatus,
)

FROM = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)


CASES = [
    Case(
        "runs.create",
        lambda c: c.runs.create(
            "wf-1",
            input_values={"month": "2026-10", "total": RefValue("step1.outputs.total")},
            sensitive_input_values={"password": "hunter2", "nested": {"pin": 1234}},
            file_inputs=[FileInput.from_bytes("a.txt", b"hello", target_path="~/in")],
            machine_id="m-1",
            pool_ids=["p-1", "p-2"],
            session_id="s-1",
            start_session=False,
            session_alias="first",
            release_session_after=True,
            is_priority=True,
            main_prompt="override",
            model_metadata={"main_agent_model_id": "mod-1"},
            idempotency_key="idem-create",
        ),
        "POST",
        "/v1/runs",
        body={
            "workflow_id": "wf-1",
            "input_values": {"month": "2026-10", "total": {"$ref": "step1.outputs.total"}},
            "sensitive_input_values": {"password": "hunter2", "nested": {"pin": 1234}},
            "file_inputs": [
                {
                    "filename": "a.txt",
                    "content": base64.b64encode(b"hello").decode(),
                    "target_path": "~/in",
                    "cleanup_imports_after_run": False,
                }
            ],
            "machine_id": "m-1",
            "pool_ids": ["p-1", "p-2"],
            "session_id": "s-1",
            "start_session": False,
            "session_alias": "first",
            "release_session_after": True,
            "is_priority": True,
            "main_prompt": "override",
            "model_metadata": {"main_agent_model_id": "mod-1"},
        },
        status=201,
        response=run_json(status="scheduling"),
        check=lambda r: isinstance(r, Run) and r.status is RunStatus.SCHEDULING,
        write=True,
    ),
    Case(
        "runs.create minimal",
        lambda c: c.runs.create("wf-1"),
        "POST",
        "/v1/runs",
        body={"workflow_id": "wf-1"},
        status=201,
        response=run_json(status="scheduling"),
        write=True,
    ),
    Case(
        "runs.get",
        lambda c: c.runs.get("run-1", include=["workflow", "machine"]),
        "GET",
        "/v1/runs/run-1",
        params=[("include", "workflow,machine")],
        response=run_json(included=[{"type": "workflow", "id": "wf-1"}]),
        check=lambda r: r.included == [{"type": "workflow", "id": "wf-1"}],
    ),
    Case(
        "runs.list",
        lambda c: c.runs.list(
            workflow_id="wf-1",
            machine_id="m-1",
            session_id="s-1",
            status=RunStatus.RUNNING_CHECKS,
            created_at_from=FROM,
            created_at_to=datetime(2026, 11, 2),
            sort_mode="created_at_desc",
            search="acme",
            deep_search=False,
            fields=["ended_at", "output_data"],
            include="workflow",
            skip=10,
            limit=1000,
        ),
        "GET",
        "/v1/runs",
        params=[
            ("workflow_id", "wf-1"),
            ("machine_id", "m-1"),
            ("session_id", "s-1"),
            ("status", "running_checks"),
            ("created_at_from", "2026-11-01T00:00:00+00:00"),
            ("created_at_to", "2026-11-02T00:00:00+00:00"),
            ("sort_mode", "created_at_desc"),
            ("search", "acme"),
            ("deep_search", "false"),
            ("fields", "ended_at"),
            ("fields", "output_data"),
            ("include", "workflow"),
            ("skip", "10"),
            ("limit", "1000"),
        ],
        response=page_json([run_json()], total=11, skip=10, limit=1000),
        check=lambda p: isinstance(p, Page) and p.total == 11 and isinstance(p.items[0], Run),
    ),
    Case(
        "runs.list deep_search true",
        lambda c: c.runs.list(deep_search=True),
        "GET",
        "/v1/runs",
        params=[("deep_search", "true"), ("skip", "0"), ("limit", "100")],
        response=page_json([]),
    ),
    Case(
        "runs.update explicit null",
        lambda c: c.runs.update("run-1", release_session_after=None, output_data={"a": 1}),
        "PATCH",
        "/v1/runs/run-1",
        body={"release_session_after": None, "output_data": {"a": 1}},
        response=run_json(),
        write=True,
    ),
    Case(
        "runs.delete",
        lambda c: c.runs.delete("run-1"),
        "DELETE",
        "/v1/runs/run-1",
        status=204,
        check=lambda r: r is None,
        write=True,
    ),
    Case(
        "runs.cancel",
        lambda c: c.runs.cancel("run-1"),
        "PATCH",
        "/v1/runs/run-1",
        body={"status": "cancelled"},
        response=run_json(status="cancelled"),
        check=lambda r: r.status is RunStatus.CANCELLED,
        write=True,
    ),
    Case(
        "runs.retry",
        lambda c: c.runs.retry(
            "run-1",
            input_values={"a": 1},
            sensitive_input_values={"pw": "s3cret"},
            file_inputs=[("b.bin", b"\x00\x01")],
            machine_id="m-2",
            pool_ids=["p-1"],
            reuse_session=False,
            session_id="s-2",
            start_session=True,
            session_alias="again",
            release_session_after=False,
            is_priority=False,
            idempotency_key="idem-retry",
        ),
        "POST",
        "/v1/runs/run-1/retry",
        body={
            "input_values": {"a": 1},
            "sensitive_input_values": {"pw": "s3cret"},
            "file_inputs": [
                {
                    "filename": "b.bin",
                    "content": base64.b64encode(b"\x00\x01").decode(),
                    "cleanup_imports_after_run": False,
                }
            ],
            "machine_id": "m-2",
            "pool_ids": ["p-1"],
            "reuse_session": False,
            "session_id": "s-2",
            "start_session": True,
            "session_alias": "again",
            "release_session_after": False,
            "is_priority": False,
        },
        response=run_json(status="scheduling"),
        write=True,
    ),
    Case(
        "runs.bulk_create",
        lambda c: c.runs.bulk_create(
            "wf-1",
            3,
            input_values={"x": 1},
            sensitive_input_values={"k": "v"},
            pool_ids=["p-1"],
            start_session=True,
            is_priority=True,
            idempotency_key="idem-bulk",
        ),
        "POST",
        "/v1/runs/bulk",
        body={
            "workflow_id": "wf-1",
            "count": 3,
            "input_values": {"x": 1},
            "sensitive_input_values": {"k": "v"},
            "pool_ids": ["p-1"],
            "start_session": True,
            "is_priority": True,
        },
        status=201,
        response={
            "created_runs": [run_json("a"), run_json("b")],
            "failed_count": 1,
            "errors": ["x"],
        },
        check=lambda r: (
            isinstance(r, BulkCreateResult)
            and [x.id for x in r.created_runs] == ["a", "b"]
            and r.failed_count == 1
        ),
        write=True,
    ),
    Case(
        "runs.chain",
        lambda c: c.runs.chain(
            [
                ChainStep("wf-1", session_alias="s1", inputs={"m": "10"}),
                {
                    "workflow_id": "wf-2",
                    "inputs": {"t": RefValue("s1.outputs.total")},
                    "sensitive_inputs": {"pw": "x"},
                },
            ],
            shared_inputs={"org": "acme"},
            shared_sensitive_inputs={"token": "t0k"},
            shared_file_inputs=[("f.txt", b"f")],
            keep_session_after_completion=True,
            machine_id="m-1",
            pool_ids=["p-1"],
            is_priority=False,
            idempotency_key="idem-chain",
        ),
        "POST",
        "/v1/runs/chain",
        body={
            "steps": [
                {"workflow_id": "wf-1", "session_alias": "s1", "inputs": {"m": "10"}},
                {
                    "workflow_id": "wf-2",
                    "inputs": {"t": {"$ref": "s1.outputs.total"}},
                    "sensitive_inputs": {"pw": "x"},
                },
            ],
            "shared_inputs": {"org": "acme"},
            "shared_sensitive_inputs": {"token": "t0k"},
            "shared_file_inputs": [
                {"filename": "f.txt", "content": "Zg==", "cleanup_imports_after_run": False}
            ],
            "keep_session_after_completion": True,
            "machine_id": "m-1",
            "pool_ids": ["p-1"],
            "is_priority": False,
        },
        status=201,
        response={"session_id": "s-9", "run_ids": ["a", "b"]},
        check=lambda r: isinstance(r, ChainResult) and r.run_ids == ["a", "b"],
        write=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_sync_endpoint(case: Case, api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue(case.method, case.path, respond(case))
    result = case.invoke(client)
    assert not inspect.isawaitable(result)
    verify(case, api, result)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_async_endpoint(case: Case, api: FakeAPI, aclient: AsyncCyberdeskClient) -> None:
    api.queue(case.method, case.path, respond(case))
    pending = case.invoke(aclient)
    assert inspect.isawaitable(pending)
    verify(case, api, await pending)


def test_caller_idempotency_key_is_sent(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("POST", "/v1/runs", httpx.Response(201, json=run_json()))
    api.queue("POST", "/v1/runs/bulk", httpx.Response(201, json={"created_runs": []}))
    client.runs.create("wf-1", idempotency_key="mine-1")
    client.runs.bulk_create("wf-1", 2, idempotency_key="mine-2")
    assert [r.headers["idempotency-key"] for r in api.requests] == ["mine-1", "mine-2"]


def test_ids_are_url_quoted(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", "/v1/runs/a b", httpx.Response(200, json=run_json("a b")))
    assert client.runs.get("a b").id == "a b"


def test_sync_and_async_surfaces_match() -> None:
    groups = ["runs", "run_attachments", "machines", "pools", "workflows"]
    sync = CyberdeskClient("k", base_url="https://x")
    asyn = AsyncCyberdeskClient("k", base_url="https://x")
    for group in groups:
        s, a = getattr(sync, group), getattr(asyn, group)
        names = {n for n in dir(s) if not n.startswith("_")}
        assert names == {n for n in dir(a) if not n.startswith("_")}
        for name in names:
            s_sig = inspect.signature(getattr(s, name))
            a_sig = inspect.signature(getattr(a, name))
            assert list(s_sig.parameters) == list(a_sig.parameters), (group, name)
            if name != "iter":
                assert inspect.iscoroutinefunction(getattr(a, name)), (group, name)
    sync.close()
