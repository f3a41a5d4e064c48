"""Idempotency keys tied to the Prefect task run that creates Cyberdesk runs.

A task run keeps its id across task retries, so a key derived from
`(flow_run.id, task_run.id, purpose, n)` is the same on every try: a retried task sends the
same `Idempotency-Key` and Cyberdesk answers with the run the first try created instead of
starting a second one. `n` counts creates of the same purpose inside one try, so a task that
creates two runs does not collapse them into one; the count restarts on each try, so the
n-th create of a retry matches the n-th create of the first try.

Outside a task run there is nothing stable to derive from; the core client then generates
one key per call (still reused across its own HTTP retries).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from prefect.context import FlowRunContext, TaskRunContext

from cyberdesk_core import derive_idempotency_key

_counter_lock = threading.Lock()
_counters: dict[tuple[str, int, str], int] = {}
_MAX_COUNTERS = 50_000


@dataclass(frozen=True)
class RunIdentity:
    """Where the current code runs in Prefect terms."""

    flow_run_id: str | None
    task_run_id: str | None
    run_count: int

    @property
    def is_retry(self) -> bool:
        """True on the second and later tries of a task run."""
        return self.run_count > 1


def current_identity() -> RunIdentity:
    """Ids of the current flow run and task run (None outside of them)."""
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        task_run = task_ctx.task_run
        flow_run_id = str(task_run.flow_run_id) if task_run.flow_run_id else None
        return RunIdentity(flow_run_id, str(task_run.id), int(task_run.run_count or 1))
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None and flow_ctx.flow_run is not None:
        return RunIdentity(str(flow_ctx.flow_run.id), None, 0)
    return RunIdentity(None, None, 0)


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
    return derive_idempotency_key(
        "prefect", identity.flow_run_id, identity.task_run_id, purpose, sequence
    )


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
