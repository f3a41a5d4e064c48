"""Attachments, machines, pools, workflows and health, sync and async: the wire requests."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone

import pytest
from core_fakes import Case, FakeAPI, page_json, respond, verify

from cyberdesk_core import (
    AsyncCyberdeskClient,
    CyberdeskClient,
    DownloadUrl,
    Machine,
    Pool,
    PoolWithMachines,
    RunAttachment,
    Workflow,
)

ATTACHMENT = {
    "id": "att-1",
    "run_id": "run-1",
    "filename": "report.csv",
    "content_type": "text/csv",
    "attachment_type": "output",
    "size_bytes": 3,
    "storage_path": "x/y",
    "created_at": "2026-11-01T12:00:00Z",
}
MACHINE = {"id": "m-1", "status": "connected", "is_available": True, "unkey_key_id": "k"}
POOL = {"id": "p-1", "name": "finance", "organization_id": "org"}
WORKFLOW = {"id": "wf-1", "main_prompt": "do it", "name": "Monthly close"}
FROM = datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc)


CASES = [
    Case(
        "run_attachments.list",
        lambda c: c.run_attachments.list(run_id="run-1", attachment_type="output", limit=5),
        "GET",
        "/v1/run-attachments",
        params=[("run_id", "run-1"), ("attachment_type", "output"), ("skip", "0"), ("limit", "5")],
        response=page_json([ATTACHMENT]),
        check=lambda p: isinstance(p.items[0], RunAttachment),
    ),
    Case(
        "run_attachments.get",
        lambda c: c.run_attachments.get("att-1"),
        "GET",
        "/v1/run-attachments/att-1",
        response=ATTACHMENT,
        check=lambda a: a.filename == "report.csv" and a.size_bytes == 3,
    ),
    Case(
        "run_attachments.get_download_url",
        lambda c: c.run_attachments.get_download_url("att-1", expires_in=60),
        "GET",
        "/v1/run-attachments/att-1/download-url",
        params=[("expires_in", "60")],
        response={"url": "https://files.test/x?sig=abc", "expires_in": 60},
        check=lambda u: isinstance(u, DownloadUrl) and u.expires_at is not None,
    ),
    Case(
        "run_attachments.create",
        lambda c: c.run_attachments.create(
            "run-1",
            filename="in.txt",
            content=b"abc",
            content_type="text/plain",
            attachment_type="input",
            target_path="~/x",
        ),
        "POST",
        "/v1/run-attachments",
        body={
            "run_id": "run-1",
            "filename": "in.txt",
            "content": "YWJj",
            "content_type": "text/plain",
            "attachment_type": "input",
            "target_path": "~/x",
        },
        status=201,
        response=ATTACHMENT,
        write=True,
    ),
    Case(
        "run_attachments.delete",
        lambda c: c.run_attachments.delete("att-1"),
        "DELETE",
        "/v1/run-attachments/att-1",
        status=204,
        write=True,
    ),
    Case(
        "machines.list",
        lambda c: c.machines.list(search="win", name="box", status="connected", include=["pools"]),
        "GET",
        "/v1/machines",
        params=[
            ("search", "win"),
            ("name", "box"),
            ("status", "connected"),
            ("include", "pools"),
            ("skip", "0"),
            ("limit", "100"),
        ],
        response=page_json([MACHINE]),
        check=lambda p: isinstance(p.items[0], Machine),
    ),
    Case(
        "machines.get",
        lambda c: c.machines.get("m-1", include="pools"),
        "GET",
        "/v1/machines/m-1",
        params=[("include", "pools")],
        response=MACHINE,
    ),
    Case(
        "machines.create",
        lambda c: c.machines.create(
            fingerprint="fp", unkey_key_id="k", name="box", machine_sensitive_parameters={"pw": "p"}
        ),
        "POST",
        "/v1/machines",
        body={
            "fingerprint": "fp",
            "unkey_key_id": "k",
            "name": "box",
            "machine_sensitive_parameters": {"pw": "p"},
        },
        status=201,
        response=MACHINE,
        write=True,
    ),
    Case(
        "machines.update",
        lambda c: c.machines.update("m-1", name="new", machine_parameters={}),
        "PATCH",
        "/v1/machines/m-1",
        body={"name": "new", "machine_parameters": {}},
        response=MACHINE,
        write=True,
    ),
    Case(
        "machines.delete",
        lambda c: c.machines.delete("m-1"),
        "DELETE",
        "/v1/machines/m-1",
        status=204,
        write=True,
    ),
    Case(
        "machines.get_pools",
        lambda c: c.machines.get_pools("m-1"),
        "GET",
        "/v1/machines/m-1/pools",
        response=[POOL],
        check=lambda r: isinstance(r, list) and isinstance(r[0], Pool),
    ),
    Case(
        "machines.update_pools",
        lambda c: c.machines.update_pools("m-1", ["p-1", "p-2"]),
        "PUT",
        "/v1/machines/m-1/pools",
        body={"pool_ids": ["p-1", "p-2"]},
        response=MACHINE,
        check=lambda m: isinstance(m, Machine),
        write=True,
    ),
    Case(
        "machines.clear_session",
        lambda c: c.machines.clear_session("m-1"),
        "PATCH",
        "/v1/machines/m-1",
        body={"reserved_session_id": None},
        response=MACHINE,
        write=True,
    ),
    Case(
        "pools.list",
        lambda c: c.pools.list(include="machines", skip=2, limit=3),
        "GET",
        "/v1/pools",
        params=[("include", "machines"), ("skip", "2"), ("limit", "3")],
        response=page_json([POOL]),
        check=lambda p: isinstance(p.items[0], Pool),
    ),
    Case(
        "pools.get",
        lambda c: c.pools.get("p-1", include="machines"),
        "GET",
        "/v1/pools/p-1",
        params=[("include", "machines")],
        response={**POOL, "machines": [MACHINE]},
        check=lambda p: isinstance(p, PoolWithMachines) and p.machines[0].id == "m-1",
    ),
    Case(
        "pools.create",
        lambda c: c.pools.create("finance", description="d", pool_sensitive_parameters={"a": "b"}),
        "POST",
        "/v1/pools",
        body={"name": "finance", "description": "d", "pool_sensitive_parameters": {"a": "b"}},
        status=201,
        response=POOL,
        write=True,
    ),
    Case(
        "pools.update",
        lambda c: c.pools.update("p-1", description=None),
        "PATCH",
        "/v1/pools/p-1",
        body={"description": None},
        response=POOL,
        write=True,
    ),
    Case(
        "pools.delete",
        lambda c: c.pools.delete("p-1"),
        "DELETE",
        "/v1/pools/p-1",
        status=204,
        write=True,
    ),
    Case(
        "pools.add_machines",
        lambda c: c.pools.add_machines("p-1", ["m-1"]),
        "POST",
        "/v1/pools/p-1/machines",
        body={"machine_ids": ["m-1"]},
        response={**POOL, "machines": [MACHINE]},
        check=lambda p: isinstance(p, PoolWithMachines),
        write=True,
    ),
    Case(
        "pools.remove_machines",
        lambda c: c.pools.remove_machines("p-1", ["m-1", "m-2"]),
        "DELETE",
        "/v1/pools/p-1/machines",
        body={"machine_ids": ["m-1", "m-2"]},
        status=204,
        write=True,
    ),
    Case(
        "workflows.list",
        lambda c: c.workflows.list(search="close", tag_ids=["t1", "t2"], updated_at_from=FROM),
        "GET",
        "/v1/workflows",
        params=[
            ("search", "close"),
            ("updated_at_from", "2026-11-01T00:00:00+00:00"),
            ("tag_ids", "t1,t2"),
            ("skip", "0"),
            ("limit", "100"),
        ],
        response=page_json([WORKFLOW]),
        check=lambda p: isinstance(p.items[0], Workflow),
    ),
    Case(
        "workflows.get",
        lambda c: c.workflows.get("wf-1"),
        "GET",
        "/v1/workflows/wf-1",
        response=WORKFLOW,
        check=lambda w: w.name == "Monthly close",
    ),
    Case(
        "workflows.create",
        lambda c: c.workflows.create("do it", name="n", includes_file_exports=True),
        "POST",
        "/v1/workflows",
        body={"main_prompt": "do it", "name": "n", "includes_file_exports": True},
        status=201,
        response=WORKFLOW,
        write=True,
    ),
    Case(
        "workflows.update",
        lambda c: c.workflows.update("wf-1", terminal_command_allowlist=None),
        "PATCH",
        "/v1/workflows/wf-1",
        body={"terminal_command_allowlist": None},
        response=WORKFLOW,
        write=True,
    ),
    Case(
        "workflows.delete",
        lambda c: c.workflows.delete("wf-1"),
        "DELETE",
        "/v1/workflows/wf-1",
        status=204,
        write=True,
    ),
    Case(
        "health",
        lambda c: c.health(),
        "GET",
        "/v1/health",
        response={"status": "ok"},
        check=lambda h: h == {"status": "ok"},
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
