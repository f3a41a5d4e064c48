"""Idempotency keys that survive task retries and flow-run retries (`_idempotency`): a task call
is named by its task key, a digest of its non-secret parameters and its occurrence in the
flow-run attempt, never by its task-run id (a flow-run retry gives new task-run ids)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from pydantic import SecretStr

from cyberdesk_core import FileInput
from cyberdesk_prefect._idempotency import _call_identity, _stable


def _task_run(flow_run_id: str, attempt: int, task_key: str = "run-abc") -> Any:
    return SimpleNamespace(
        id=uuid4(), flow_run_id=flow_run_id, flow_run_run_count=attempt, task_key=task_key
    )


def test_a_flow_retry_gets_the_same_call_identities_in_any_order() -> None:
    flow_run = str(uuid4())
    params = [{"workflow_id": "wf", "input_values": {"month": m}} for m in ("01", "02", "01")]
    first = [_call_identity(_task_run(flow_run, 1), p) for p in params]
    # The retried flow run calls the same tasks with new task-run ids, in another order.
    second = [_call_identity(_task_run(flow_run, 2), p) for p in reversed(params)]
    assert sorted(first) == sorted(second)
    assert first[0] != first[2]  # two identical calls are still two calls
    assert len(set(first)) == 3


def test_a_task_run_keeps_its_identity_across_its_own_retries() -> None:
    task_run = _task_run(str(uuid4()), 1)
    params = {"workflow_id": "wf"}
    assert _call_identity(task_run, params) == _call_identity(task_run, params)


def test_files_and_secrets_take_part_without_being_kept() -> None:
    assert _stable(b"ledger-a") != _stable(b"ledger-b")
    assert "ledger" not in str(_stable(b"ledger-a"))
    a = FileInput.from_bytes("tb.csv", b"1")
    b = FileInput.from_bytes("tb.csv", b"2")
    assert _stable(a) != _stable(b)
    assert _stable(SecretStr("hunter2")) == _stable(SecretStr("other")) == "<SecretStr>"
    flow_run = str(uuid4())
    secret_a = {"workflow_id": "wf", "sensitive_input_values": {"pw": "a"}}
    secret_b = {"workflow_id": "wf", "sensitive_input_values": {"pw": "b"}}
    # Secret parameters are left out entirely: these two are the same call, twice.
    one = _call_identity(_task_run(flow_run, 1), secret_a)
    two = _call_identity(_task_run(flow_run, 1), secret_b)
    assert one.rsplit(":", 1)[0] == two.rsplit(":", 1)[0]
    assert one != two
