# mypy: disallow-untyped-defs, warn-unused-ignores
"""Every method called with every keyword it takes, checked twice.

Statically, `mypy tests/core cyberdesk_core` type-checks these calls against the option
TypedDicts; at run time the same calls go to a fake API. The keywords that must be refused are
in `test_core_typed_call_rejects.py`.
"""

from __future__ import annotations

import io

import pytest
from core_fakes import FakeAPI, FakeClock
from typed_calls_api import CONTENT, DEADLINE, KEYS, WHEN, answer

from cyberdesk_core import (
    AttachmentType,
    ChainStep,
    CyberdeskClient,
    FileInput,
    Run,
    RunStatus,
    wait_for_run,
)


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


def test_every_sync_method_with_every_keyword(api: FakeAPI, client: CyberdeskClient) -> None:
    sync_calls(client, FakeClock())
    assert {r.headers.get("idempotency-key") for r in api.requests} >= KEYS
