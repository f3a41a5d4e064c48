"""Idempotency keys tied to the Prefect task call that creates Cyberdesk runs.

A key must be the same on every try of a task, and also when the whole flow run is retried
(`@flow(retries=...)` or "Retry" on a failed flow run): Prefect gives the task calls of a
retried flow run new task-run ids, so a key from the task-run id would create, and execute,
every Cyberdesk run again. The key is therefore derived from `(flow_run.id, call, purpose, n)`
where `call` names the task call independently of its task-run id: the task's `task_key`, a
digest of its non-secret parameters, and the how-many-th such call it is in this flow-run
attempt (calls with identical parameters are interchangeable, so their order does not matter).
A task run keeps its call identity across its own retries. `n` counts creates of the same
purpose inside one try, so a task that creates two runs does not collapse them into one; the
count restarts on each try, so the n-th create of a retry matches the n-th create of the first.
A new flow run has a new id, and so creates (and executes) new runs: the deliberate "run again".

Outside a task run there is nothing stable to derive from; the core client then generates
one key per call (still reused across its own HTTP retries).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from prefect.context import FlowRunContext, TaskRunContext

from cyberdesk_core import FileInput, derive_idempotency_key

_counter_lock = threading.Lock()
_counters: dict[tuple[str, int, str], int] = {}
_MAX_COUNTERS = 50_000


@dataclass(frozen=True)
class RunIdentity:
    """Where the current code runs in Prefect terms."""

    flow_run_id: str | None
    task_run_id: str | None
    run_count: int
    call: str | None = None
    flow_attempt: int = 1

    @property
    def is_retry(self) -> bool:
        """True when an earlier try may have created this call's runs: the second and later
        tries of a task run, and every task run of a retried flow run."""
        return self.run_count > 1 or self.flow_attempt > 1


def current_identity() -> RunIdentity:
    """Ids of the current flow run and task run (None outside of them)."""
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        task_run = task_ctx.task_run
        flow_run_id = str(task_run.flow_run_id) if task_run.flow_run_id else None
        return RunIdentity(
            flow_run_id,
            str(task_run.id),
            int(task_run.run_count or 1),
            _call_identity(task_run, task_ctx.parameters),
            int(getattr(task_run, "flow_run_run_count", 1) or 1),
        )
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return RunIdentity(str(flow_ctx.flow_run.id), None, 0)
    return RunIdentity(None, None, 0)


_calls: dict[str, str] = {}
_call_counters: dict[tuple[str | None, int, str], int] = {}


def _stable(value: Any) -> Any:
    """A form of a parameter that is the same in every process (no ids, no secrets)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _stable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    if isinstance(value, bytes | bytearray):
        # File contents tell otherwise identical calls apart; only their digest is kept.
        return f"<bytes {hashlib.sha256(value).hexdigest()}>"
    if isinstance(value, FileInput):
        return {
            "file": value.filename,
            "sha256": hashlib.sha256(value.content.encode()).hexdigest(),
        }
    # Blocks, secrets, clients, futures: only their kind takes part.
    return f"<{type(value).__qualname__}>"


def _call_identity(task_run: Any, parameters: Mapping[str, Any] | None) -> str:
    """`task_key:digest:occurrence` for a task run, fixed the first time it is asked for."""
    task_run_id = str(task_run.id)
    with _counter_lock:
        known = _calls.get(task_run_id)
        if known is not None:
            return known
    public = {
        name: _stable(value)
        for name, value in (parameters or {}).items()
        if "sensitive" not in name and "secret" not in name
    }
    text = json.dumps(public, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    flow_run_id = str(task_run.flow_run_id) if task_run.flow_run_id else None
    attempt = int(getattr(task_run, "flow_run_run_count", 0) or 0)
    slot = (flow_run_id, attempt, f"{task_run.task_key}:{digest}")
    with _counter_lock:
        if len(_calls) > _MAX_COUNTERS:
            _calls.clear()
            _call_counters.clear()
        known = _calls.get(task_run_id)
        if known is None:
            _call_counters[slot] = _call_counters.get(slot, 0) + 1
            known = _calls[task_run_id] = f"{slot[2]}:{_call_counters[slot]}"
        return known


def _next_sequence(identity: RunIdentity, purpose: str) -> int:
    assert identity.task_run_id is not None
    slot = (identity.task_run_id, identity.run_count, purpose)
    with _counter_lock:
        if len(_counters) > _MAX_COUNTERS:
            # Old task runs never come back; dropping them only bounds memory.
            _counters.clear()
        _counters[slot] = _counters.get(slot, 0) + 1
        return _counters[slot]


def task_idempotency_key(purpose: str, explicit: str | None = None) -> str | None:
    """The key for a create made by the current task run.

    Args:
        purpose: What is being created (`create`, `bulk`, `chain`, `retry`, ...).
        explicit: A key chosen by the caller; it wins when given.

    Returns:
        The key, or None outside a task run (the core then picks one per call).
    """
    if explicit:
        return explicit
    identity = current_identity()
    if identity.task_run_id is None:
        return None
    sequence = _next_sequence(identity, purpose)
    return derive_idempotency_key("prefect", identity.flow_run_id, identity.call, purpose, sequence)


def retry_idempotency_key(run_id: str) -> str | None:
    """Key for asking Cyberdesk to retry `run_id` from the current try of the task run.

    It includes the try number, so every Prefect retry re-executes the run at most once,
    and an HTTP retry inside one try does not re-execute it twice.
    """
    identity = current_identity()
    if identity.task_run_id is None:
        return None
    return derive_idempotency_key(
        "prefect-retry", identity.flow_run_id, identity.task_run_id, identity.run_count, run_id
    )
