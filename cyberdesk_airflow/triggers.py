"""Deferrable waiting: the trigger shared by every Cyberdesk operator and the sensor.

The same coroutine, :func:`collect_runs`, waits for runs in the triggerer (deferrable mode) and
in the worker (``asyncio.run``), so both modes produce the same event and the same task result.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from cyberdesk_airflow._compat import BaseTrigger, TriggerEvent
from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_core import AsyncCyberdeskClient, CyberdeskError, Run, RunWatcher
from cyberdesk_core.errors import RunError, RunTimeoutError
from cyberdesk_core.summaries import describe_run

#: Event statuses: all runs succeeded / at least one failed / deadline passed / waiting broke.
EVENT_SUCCESS = "success"
EVENT_FAILED = "failed"
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"

# Fields carried in events: what completion needs, without the (possibly huge) message history.
_EVENT_RUN_FIELDS = (
    "id",
    "workflow_id",
    "status",
    "created_at",
    "started_at",
    "ended_at",
    "machine_id",
    "session_id",
    "session_alias",
    "error",
    "output_data",
    "input_attachment_ids",
    "output_attachment_ids",
)

#: Seconds the trigger's ``on_kill`` may spend cancelling runs.
CANCEL_TIMEOUT = 30.0


def run_to_payload(run: Run) -> dict[str, Any]:
    """A JSON-serialisable subset of ``run`` for trigger events and XCom."""
    return run.model_dump(mode="json", include=set(_EVENT_RUN_FIELDS))


def runs_from_event(event: dict[str, Any]) -> list[Run]:
    """Rebuild the runs carried by an event produced by :func:`collect_runs`."""
    return [Run.model_validate(item) for item in event.get("runs", [])]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def make_event(status: str, runs: Sequence[Run], message: str = "") -> dict[str, Any]:
    """Build the event payload consumed by the operators' ``execute_complete``."""
    return {
        "status": status,
        "run_ids": [run.id for run in runs],
        "runs": [run_to_payload(run) for run in runs],
        "message": message,
    }


def outcome_of(runs: Sequence[Run]) -> str:
    """``success`` when every run succeeded, otherwise ``failed``."""
    return EVENT_SUCCESS if all(run.status == "success" for run in runs) else EVENT_FAILED


async def collect_runs(
    watcher: RunWatcher | Callable[[], RunWatcher],
    run_ids: Sequence[str],
    *,
    deadline: datetime | None = None,
    workflow_id: str | None = None,
    session_id: str | None = None,
    created_at: datetime | None = None,
    log: Any = None,
    finished: set[str] | None = None,
) -> dict[str, Any]:
    """Wait until every run is terminal or the deadline passes; return an event payload.

    Transient API errors are retried by the watcher until the deadline. A non-transient error
    (bad key, unknown run) ends the wait with an ``error`` event naming it. ``watcher`` is a
    watcher, or a callable handing one out (see :class:`SharedWatcherSource`), called by each wait
    right before it registers.
    """

    # The watcher calls back from its own polling task, whose context is that of whichever trigger
    # started it; run the callback in this wait's context, where Airflow binds the task's log.
    context = contextvars.copy_context()

    def record(run: Run) -> None:
        if finished is not None and run.is_terminal:
            finished.add(run.id)
        if log is not None:
            log.info("Cyberdesk %s", describe_run(run))

    def on_change(run: Run) -> None:
        context.run(record, run)

    async def wait_one(run_id: str) -> tuple[Run | None, bool]:
        # Nothing is awaited between taking a shared watcher and registering with it, so it
        # cannot retire (and refuse this wait) in between.
        current = watcher if isinstance(watcher, RunWatcher) else watcher()
        try:
            run = await current.wait(
                run_id,
                workflow_id=workflow_id,
                session_id=session_id,
                created_at=created_at,
                deadline=deadline,
                on_status_change=on_change,
            )
        except RunTimeoutError as exc:
            return exc.run, True
        except RunError as exc:
            return exc.run, False
        return run, False

    waits = [asyncio.ensure_future(wait_one(run_id)) for run_id in run_ids]
    try:
        results = await asyncio.gather(*waits)
    except CyberdeskError as exc:
        # Stop the other waits too, or the shared watcher would keep polling their runs.
        for pending_wait in waits:
            pending_wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        return {"status": EVENT_ERROR, "run_ids": list(run_ids), "runs": [], "message": str(exc)}
    runs = [run for run, _ in results if run is not None]
    if any(timed_out for _, timed_out in results):
        pending = [run.id for run in runs if not run.is_terminal]
        message = f"Cyberdesk runs did not finish before the deadline: {', '.join(pending)}"
        return {**make_event(EVENT_TIMEOUT, runs, message), "run_ids": list(run_ids)}
    return make_event(outcome_of(runs), runs)


class CyberdeskRunTrigger(BaseTrigger):
    """Wait in the triggerer until Cyberdesk runs end, then fire one event.

    Its kwargs hold no secret: the API key is looked up asynchronously from the connection when the
    trigger runs. The event always carries the runs, so ``execute_complete`` needs no other state.

    :param conn_id: Cyberdesk connection id.
    :param run_ids: Runs to wait for (``run_id`` is a shortcut for one run).
    :param poll_interval: Seconds between status checks.
    :param deadline: ISO timestamp after which a ``timeout`` event fires (None: no deadline).
    :param workflow_id: Hint: all runs belong to this workflow (the watcher then polls with lists).
    :param session_id: Hint: all runs belong to this session.
    :param created_at: Hint: ISO timestamp no later than the earliest run's creation.
    :param cancel_on_kill: Cancel unfinished runs when a user kills the deferred task (3.3+).
    """

    def __init__(
        self,
        *,
        conn_id: str = CyberdeskHook.default_conn_name,
        run_id: str | None = None,
        run_ids: Sequence[str] | None = None,
        poll_interval: float = 5.0,
        deadline: str | None = None,
        workflow_id: str | None = None,
        session_id: str | None = None,
        created_at: str | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        ids = list(run_ids or [])
        if run_id is not None:
            ids.insert(0, run_id)
        if not ids:
            raise ValueError("CyberdeskRunTrigger needs run_id or run_ids.")
        self.conn_id = conn_id
        self.run_ids = ids
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.workflow_id = workflow_id
        self.session_id = session_id
        self.created_at = created_at
        self.cancel_on_kill = cancel_on_kill
        self._finished: set[str] = set()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-serialisable kwargs (no secret)."""
        ids: dict[str, Any] = (
            {"run_id": self.run_ids[0]} if len(self.run_ids) == 1 else {"run_ids": self.run_ids}
        )
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                **ids,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "workflow_id": self.workflow_id,
                "session_id": self.session_id,
                "created_at": self.created_at,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the runs through the process-wide shared watcher and yield one event."""
        try:
            client_kwargs = await CyberdeskHook(self.conn_id).aget_client_kwargs()
        except CyberdeskError as exc:
            message = str(exc)
            yield TriggerEvent(  # type: ignore[no-untyped-call]
                {"status": EVENT_ERROR, "run_ids": self.run_ids, "runs": [], "message": message}
            )
            return
        source = await SharedWatcherSource.prepare(client_kwargs, self.poll_interval)
        try:
            event = await collect_runs(
                source,
                self.run_ids,
                deadline=_parse(self.deadline),
                workflow_id=self.workflow_id,
                session_id=self.session_id,
                created_at=_parse(self.created_at),
                log=self.log,
                finished=self._finished,
            )
        finally:
            await source.aclose()
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """Cancel the runs that have not finished when a user kills the deferred task."""
        if not self.cancel_on_kill:
            return
        pending = [run_id for run_id in self.run_ids if run_id not in self._finished]
        if not pending:
            return
        hook = CyberdeskHook(self.conn_id, timeout=CANCEL_TIMEOUT / 3, max_retries=1)
        await asyncio.wait_for(hook.acancel_runs(pending), CANCEL_TIMEOUT)


class SharedWatcherSource:
    """Hands out the watcher shared by all triggers of this event loop with the same credentials
    and poll interval, at the moment a wait registers with it.

    A shared watcher retires as soon as no wait is registered, so a trigger must not hold one it
    took before an ``await``: it could have retired by the time the trigger registers. The source
    is called by each wait right before registering. The registry key holds a digest of the API
    key, not the key itself; the watcher owns its client and closes it when it retires. The client
    is built in a thread ahead of time because setting up its TLS context takes long enough to
    stall the triggerer's event loop; when a watcher already exists that client is closed at once.
    """

    def __init__(
        self, client_kwargs: dict[str, Any], poll_interval: float, spare: AsyncCyberdeskClient
    ) -> None:
        digest = hashlib.sha256(str(client_kwargs["api_key"]).encode()).hexdigest()
        self._key = ("cyberdesk_airflow", client_kwargs.get("base_url"), digest, poll_interval)
        self._client_kwargs = client_kwargs
        self._poll_interval = poll_interval
        self._spare: AsyncCyberdeskClient | None = spare
        self._closing: list[asyncio.Task[None]] = []

    @classmethod
    async def prepare(
        cls, client_kwargs: dict[str, Any], poll_interval: float
    ) -> SharedWatcherSource:
        """A source with a client built off the event loop, ready for a new watcher."""
        spare = await asyncio.to_thread(AsyncCyberdeskClient, **client_kwargs)
        return cls(client_kwargs, poll_interval, spare)

    def _new_client(self) -> AsyncCyberdeskClient:
        spare, self._spare = self._spare, None
        # A second new watcher for one trigger (its first one retired between two of its waits)
        # builds its client here; rare enough to accept the short stall.
        return spare if spare is not None else AsyncCyberdeskClient(**self._client_kwargs)

    def __call__(self) -> RunWatcher:
        watcher = RunWatcher.shared(self._key, self._new_client, poll_interval=self._poll_interval)
        spare, self._spare = self._spare, None
        if spare is not None:
            # Another trigger's watcher serves this one: free the unused client right away
            # (each holds a TLS context), without awaiting before the caller registers.
            self._closing.append(asyncio.get_running_loop().create_task(spare.aclose()))
        return watcher

    async def aclose(self) -> None:
        """Close the prepared client if no watcher took it."""
        spare, self._spare = self._spare, None
        if spare is not None:
            await spare.aclose()
        await asyncio.gather(*self._closing)
