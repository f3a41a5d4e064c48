"""Cancel the Cyberdesk runs a Prefect flow run started when that flow run is cancelled.

Two layers work together:

1. The wait loops cancel their run in a `finally` when the wait is abandoned (task timeout,
   the wait's `timeout`, `TerminationSignal` from a cancelled served/deployed run, the task
   runner cancelling its tasks as that run's process stops, ...).
2. Every created run is recorded on the flow run as a label `cyberdesk.run.<run id>`
   right after it is created (one label update of a flow run at a time per process, read
   back, because concurrent updates on the server overwrite each other).
   `cancel_cyberdesk_runs_on_cancellation`, used as `@flow(on_cancellation=[...])`, reads
   those labels and cancels runs that are still active.
   The hook runs in the runner process after the flow process is gone, so the labels are the
   only memory it has.

The hook finds credentials in this order: the hook factory's explicit credentials, the
saved `CyberdeskCredentials` block named in the `cyberdesk.credentials` label (recorded when
the tasks used a saved block), then the `CYBERDESK_API_KEY` / `CYBERDESK_BASE_URL` variables.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from prefect.context import FlowRunContext

from cyberdesk_prefect.observability import get_logger

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.client.schemas.objects import FlowRun, State

    from cyberdesk_core import CyberdeskClient
    from cyberdesk_prefect.credentials import CyberdeskCredentials

RUN_LABEL_PREFIX = "cyberdesk.run."
CREDENTIALS_LABEL = "cyberdesk.credentials"
BASE_URL_LABEL = "cyberdesk.base_url"


def run_labels(
    run_ids: Iterable[str], credentials: CyberdeskCredentials | None
) -> dict[str, bool | int | float | str]:
    """Flow-run labels that record `run_ids` (and where to find the credentials)."""
    labels: dict[str, bool | int | float | str] = {
        f"{RUN_LABEL_PREFIX}{run_id}": str(run_id) for run_id in run_ids
    }
    if credentials is not None:
        block_name = getattr(credentials, "_block_document_name", None)
        if block_name and not getattr(credentials, "_is_anonymous", False):
            labels[CREDENTIALS_LABEL] = block_name
        labels[BASE_URL_LABEL] = credentials.base_url
    return labels


def _current_flow_run_id() -> Any:
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        return ctx.flow_run.id
    from prefect.context import TaskRunContext

    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.task_run.flow_run_id is not None:
        return task_ctx.task_run.flow_run_id
    return None


class _LabelRecorder:
    """Writes run-id labels of flow runs from every thread of this process, one at a time.

    Prefect's server merges new labels into the stored ones by read-modify-write, so two
    updates of one flow run in flight together can drop each other's labels (200 mapped
    tasks on a PostgreSQL server kept 40 of 200). Here labels queue per flow run; whichever
    thread gets the writer lock writes everything queued in one update, then reads the labels
    back and writes what another writer (another process) overwrote, a few times at most.
    """

    _ATTEMPTS = 5

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Fresh locks and queue (also in a forked child: a parent thread may hold a lock)."""
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()
        self._queued: dict[Any, dict[str, Any]] = {}

    def record(self, flow_run_id: Any, labels: dict[str, Any]) -> None:
        with self._queue_lock:
            self._queued.setdefault(flow_run_id, {}).update(labels)
        with self._writer:
            with self._queue_lock:
                batch = self._queued.pop(flow_run_id, None)
            # None: a thread that held the writer before us wrote our labels with its own.
            if batch:
                self._write(flow_run_id, batch)

    def _write(self, flow_run_id: Any, labels: dict[str, Any]) -> None:
        from prefect import get_client

        missing = labels
        with get_client(sync_client=True) as client:
            for _ in range(self._ATTEMPTS):
                client.update_flow_run_labels(flow_run_id, missing)
                stored = client.read_flow_run(flow_run_id).labels or {}
                missing = {k: v for k, v in labels.items() if stored.get(k) != v}
                if not missing:
                    return
        raise RuntimeError(f"labels {sorted(missing)} kept being overwritten")


_RECORDER = _LabelRecorder()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RECORDER.reset)


def record_runs(run_ids: Iterable[str], credentials: CyberdeskCredentials | None) -> None:
    """Record run ids on the current flow run (sync); a no-op outside a flow run."""
    flow_run_id = _current_flow_run_id()
    ids = list(run_ids)
    if flow_run_id is None or not ids:
        return
    try:
        _RECORDER.record(flow_run_id, run_labels(ids, credentials))
    except Exception as exc:  # recording is a safety net; the run itself is fine
        get_logger().warning("Could not record Cyberdesk run ids on the flow run: %s", exc)


async def arecord_runs(run_ids: Iterable[str], credentials: CyberdeskCredentials | None) -> None:
    """Record run ids on the current flow run (async); a no-op outside a flow run."""
    flow_run_id = _current_flow_run_id()
    ids = list(run_ids)
    if flow_run_id is None or not ids:
        return
    labels = run_labels(ids, credentials)
    try:
        # In a thread: the writer lock is shared with the sync tasks of this process.
        await anyio.to_thread.run_sync(_RECORDER.record, flow_run_id, labels)
    except Exception as exc:
        get_logger().warning("Could not record Cyberdesk run ids on the flow run: %s", exc)


def recorded_run_ids(labels: dict[str, Any] | None) -> list[str]:
    """Run ids recorded in a flow run's labels."""
    return sorted(
        str(value)
        for key, value in (labels or {}).items()
        if key.startswith(RUN_LABEL_PREFIX) and value
    )


def _client_for(flow_run: FlowRun, credentials: CyberdeskCredentials | None) -> CyberdeskClient:
    if credentials is not None:
        return credentials.get_client()
    labels = flow_run.labels or {}
    block_name = labels.get(CREDENTIALS_LABEL)
    if block_name:
        from cyberdesk_prefect.credentials import CyberdeskCredentials

        # Hooks run on a fresh thread of the runner: a plain sync load is safe here.
        loaded: CyberdeskCredentials = CyberdeskCredentials.load(  # type: ignore[assignment]
            str(block_name),
            _sync=True,  # type: ignore[call-arg]
        )
        return loaded.get_client()
    from cyberdesk_core import CyberdeskClient

    base_url = labels.get(BASE_URL_LABEL)
    return CyberdeskClient(base_url=str(base_url) if base_url else None)


def cancel_recorded_runs(
    flow_run: FlowRun, credentials: CyberdeskCredentials | None = None, flow: Any = None
) -> list[str]:
    """Cancel every still-active Cyberdesk run recorded on `flow_run`.

    Returns:
        The ids of the runs this call cancelled.
    """
    from prefect.logging.loggers import flow_run_logger

    from cyberdesk_core import cancel_active_runs

    logger = flow_run_logger(flow_run=flow_run, flow=flow)
    run_ids = recorded_run_ids(flow_run.labels)
    if not run_ids:
        return []
    with _client_for(flow_run, credentials) as client:
        cancelled = cancel_active_runs(client, run_ids, logger=logger)
    for run_id in cancelled:
        logger.info("Cancelled Cyberdesk run %s because the flow run was cancelled.", run_id)
    return cancelled


def cancel_cyberdesk_runs_on_cancellation(
    flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]
) -> None:
    """Flow hook: cancel the Cyberdesk runs recorded on a cancelled (or crashed) flow run.

    Use it as `@flow(on_cancellation=[cancel_cyberdesk_runs_on_cancellation])`; it also fits
    `on_crashed`. Credentials come from the `cyberdesk.credentials` label (the saved block the
    tasks used) or the `CYBERDESK_API_KEY` environment variable; to pass a block explicitly use
    `cancel_cyberdesk_runs_hook(credentials)`.
    """
    cancel_recorded_runs(flow_run, None, flow)


def cancel_cyberdesk_runs_hook(
    credentials: CyberdeskCredentials,
) -> Callable[[Flow[Any, Any], FlowRun, State[Any]], None]:
    """Build an `on_cancellation` / `on_crashed` hook that uses the given credentials."""

    def cancel_cyberdesk_runs(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
        cancel_recorded_runs(flow_run, credentials, flow)

    return cancel_cyberdesk_runs
