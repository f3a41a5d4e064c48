"""Models: tolerant RunStatus, extra fields kept, request-side helpers, pagination."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import httpx
import pytest
from core_fakes import FakeAPI, page_json, run_json

from cyberdesk_core import (
    TERMINAL_STATUSES,
    AsyncCyberdeskClient,
    ChainStep,
    ConfigurationError,
    CyberdeskClient,
    FileInput,
    Page,
    PoolWithMachines,
    RefValue,
    Run,
    RunStatus,
)
from cyberdesk_core.payloads import to_jsonable


def test_terminal_statuses() -> None:
    assert {s.value for s in TERMINAL_STATUSES} == {"success", "task_failed", "error", "cancelled"}
    for status in ("scheduling", "running", "running_checks"):
        assert not RunStatus(status).is_terminal
        assert RunStatus(status).is_known


def test_unknown_status_is_tolerated_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cyberdesk_core")
    run = Run.model_validate(run_json(status="paused_for_review_xyz"))
    again = Run.model_validate(run_json(status="paused_for_review_xyz"))
    assert run.status is again.status
    assert run.status.value == "paused_for_review_xyz"
    assert str(run.status) == "paused_for_review_xyz"
    assert not run.status.is_known
    assert not run.status.is_terminal
    assert not run.is_terminal
    assert run.status == "paused_for_review_xyz"
    assert run.model_dump(mode="json")["status"] == "paused_for_review_xyz"
    logged = [r for r in caplog.records if "paused_for_review_xyz" in r.getMessage()]
    assert len(logged) == 1
    assert RunStatus.SUCCESS.is_known


def test_status_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="not a valid RunStatus"):
        RunStatus(3)
    with pytest.raises(ValueError, match="not a valid RunStatus"):
        RunStatus("")


def test_run_keeps_unknown_fields_and_accepts_nulls() -> None:
    run = Run.model_validate(
        run_json(
            status="success",
            brand_new_field={"x": 1},
            output_data=None,
            error=None,
            started_at="2026-11-01T12:00:01Z",
            ended_at="2026-11-01T12:00:09Z",
        )
    )
    assert run.model_extra == {"brand_new_field": {"x": 1}}
    assert run.is_terminal
    assert run.ended_at is not None
    assert run.ended_at.tzinfo is not None


def test_partial_run_from_fields_projection() -> None:
    run = Run.model_validate(
        {
            "id": "a",
            "workflow_id": "w",
            "machine_id": None,
            "status": "running",
            "created_at": "2026-11-01T00:00:00Z",
        }
    )
    assert run.output_data is None
    assert run.session_id is None


def test_file_input_helpers(tmp_path: Path) -> None:
    src = tmp_path / "ledger.csv"
    src.write_bytes(b"a,b\n1,2\n")
    fi = FileInput.from_path(src, target_path="~/in", cleanup_imports_after_run=True)
    assert fi.filename == "ledger.csv"
    assert base64.b64decode(fi.content) == b"a,b\n1,2\n"
    assert fi.size_bytes == 8
    assert fi.cleanup_imports_after_run
    assert fi.target_path == "~/in"
    assert fi.content not in repr(fi)
    assert FileInput.from_bytes("x.bin", b"\x00").content == "AA=="
    with pytest.raises(ConfigurationError, match="does not exist"):
        FileInput.from_path(tmp_path / "missing.csv")
    with pytest.raises(ConfigurationError, match="directory"):
        FileInput.from_path(tmp_path)


def test_ref_value() -> None:
    ref = RefValue("step1.outputs.total")
    assert to_jsonable({"a": ref}) == {"a": {"$ref": "step1.outputs.total"}}
    assert ref == RefValue("step1.outputs.total")
    assert len({ref, RefValue("step1.outputs.total")}) == 1
    assert repr(ref) == "RefValue('step1.outputs.total')"
    with pytest.raises(ConfigurationError):
        RefValue("")


def test_chain_step_positional_and_secret() -> None:
    step = ChainStep("wf-1", "alias", {"a": 1}, {"pw": "hunter2"})
    assert step.workflow_id == "wf-1"
    assert step.session_alias == "alias"
    assert "hunter2" not in repr(step)
    assert "hunter2" not in str(step)
    assert to_jsonable(step, reveal=True)["sensitive_inputs"] == {"pw": "hunter2"}
    assert to_jsonable(step)["sensitive_inputs"] == {"pw": "**********"}
    kw = ChainStep(workflow_id="wf-2")
    assert to_jsonable(kw) == {"workflow_id": "wf-2"}


def test_to_jsonable_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        to_jsonable({"a": object()})


def test_list_and_iter_across_pages(api: FakeAPI, client: CyberdeskClient) -> None:
    runs = [run_json(f"r{i}") for i in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skip"])
        limit = int(request.url.params["limit"])
        return httpx.Response(
            200, json=page_json(runs[skip : skip + limit], total=5, skip=skip, limit=limit)
        )

    api.handler = handler
    page = client.runs.list(limit=2)
    assert isinstance(page, Page)
    assert [r.id for r in page.items] == ["r0", "r1"]
    assert page.total == 5
    ids = [r.id for r in client.runs.iter(workflow_id="wf-1", fields=["ended_at"], page_size=2)]
    assert ids == ["r0", "r1", "r2", "r3", "r4"]
    iter_requests = api.requests[1:]
    assert [r.params for r in iter_requests] == [
        [("workflow_id", "wf-1"), ("fields", "ended_at"), ("skip", str(s)), ("limit", "2")]
        for s in (0, 2, 4)
    ]


def test_iter_stops_on_empty_page(api: FakeAPI, client: CyberdeskClient) -> None:
    # A server that over-reports `total` must not cause an endless loop.
    api.handler = lambda request: httpx.Response(200, json=page_json([], total=50))
    assert list(client.run_attachments.iter(run_id="r")) == []
    assert len(api.requests) == 1


async def test_async_iter_across_pages(api: FakeAPI, aclient: AsyncCyberdeskClient) -> None:
    atts = [
        {
            "id": f"a{i}",
            "run_id": "r",
            "filename": f"f{i}",
            "content_type": "text/plain",
            "attachment_type": "output",
            "size_bytes": 1,
        }
        for i in range(3)
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skip"])
        return httpx.Response(200, json=page_json(atts[skip : skip + 2], total=3))

    api.handler = handler
    got = [a.id async for a in aclient.run_attachments.iter(run_id="r", page_size=2)]
    assert got == ["a0", "a1", "a2"]
    api.requests.clear()
    api.handler = lambda request: httpx.Response(200, json=page_json([run_json("x")], total=1))
    assert [r.id async for r in aclient.runs.iter(status="running")] == ["x"]
    assert ("limit", "1000") in api.requests[0].params


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.runs.list(limit=0), "limit"),
        (lambda c: c.runs.list(limit=1001), "limit"),
        (lambda c: c.runs.list(skip=-1), "skip"),
        (lambda c: list(c.runs.iter(page_size=5000)), "page_size"),
        (lambda c: c.runs.get(""), "run_id"),
        (lambda c: c.runs.get("a/b"), "run_id"),
        (lambda c: c.runs.bulk_create("wf", 0), "count"),
        (lambda c: c.runs.bulk_create("wf", 1001), "count"),
        (lambda c: c.runs.chain([]), "steps"),
        (lambda c: c.runs.chain([{"session_alias": "x"}]), "steps\\[0\\]"),
        (lambda c: c.runs.update("r"), "at least one field"),
        (lambda c: c.runs.create("wf", pool_ids="p-1"), "pool_ids"),
        (lambda c: c.runs.create("wf", input_values={"a": {"$ref": "bad"}}), "input_values"),
        (lambda c: c.runs.create("wf", sensitive_input_values=["x"]), "sensitive_input_values"),
        (lambda c: c.run_attachments.get_download_url("a", expires_in=5), "expires_in"),
        (lambda c: c.pools.add_machines("p", []), "machine_ids"),
    ],
)
def test_client_side_validation_sends_nothing(
    call: object, match: str, api: FakeAPI, client: CyberdeskClient
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        call(client)  # type: ignore[operator]
    assert api.requests == []


def test_pool_with_machines_accepts_null_machines() -> None:
    """`GET /v1/pools/{id}` without include=machines sends `machines: null`."""
    pool = PoolWithMachines.model_validate(
        {
            "id": "5b0f6f52-7d0f-4f7e-9a51-3f0c2f0d1a11",
            "organization_id": "org",
            "name": "Has Epic EHR",
            "created_at": "2026-11-01T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z",
            "machines": None,
        }
    )
    assert pool.machines == []
