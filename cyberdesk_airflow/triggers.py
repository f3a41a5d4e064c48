"""Deferrable waiting: the trigger shared by every Cyberdesk operator and the sensor.

The same coroutine, :func:`collect_runs`, waits for runs in the triggerer (deferrable mode) and
in the worker (``asyncio.run``), so both modes produce the same event and the same task result.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from cyberdesk_airflow._defaults import EVENT_REATTACHED
from cyberdesk_airflow._shared_watch import shared_credentials
from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_core.errors import CyberdeskError, RunError, RunTimeoutError
from cyberdesk_core.models import Run
from cyberdesk_core.narrator import RunNarrator
from cyberdesk_core.shared_watchers import SharedWatcherSource
from cyberdesk_core.watcher import RunWatcher

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
    # Step counts: the run's usage in the task's report, with no request for a successful run.
    "usage_metadata",
)

#: Seconds the trigger's ``on_kill`` may spend cancelling runs.
CANCEL_TIMEOUT = 30.0


def run_to_payload(run: Run) -> dict[str, Any]:
    """A JSON-serialisable subset of ``run`` for trigger events and XCom."""
    return run.model_dump(mode="json", include=set(_EVENT_RUN_FIELDS))


def runs_from_event(event: dict[str, Any]) -> list[Run]:
    """Rebuild the runs carried by an event produced by :func:`collect_runs`."""
    return [Run.model_validate(item) for item in event.get("runs", [])]


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


def error_event(run_ids: Sequence[str], message: str) -> dict[str, Any]:
    """The event of a wait that broke off (no runs carried)."""
    return {"status": EVENT_ERROR, "run_ids": list(run_ids), "runs": [], "message": message}


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
    live_steps: bool = True,
    labels: Mapping[str, str] | None = None,
    secrets: Any = (),
) -> dict[str, Any]:
    """Wait until every run is terminal or the deadline passes; return an event payload.

    Transient API errors are retried by the watcher until the deadline. A non-transient error
    (bad key, unknown run) ends the wait with an ``error`` event naming it. ``watcher`` is a
    watcher, or a callable handing one out (see
    ``cyberdesk_core.shared_watchers.SharedWatcherSource``), called by each wait right before it
    registers.

    With ``log``, each run gets a ``RunNarrator`` writing its status changes (with workflow and
    machine names) and, with ``live_steps``, its new agent steps to ``log``; ``labels`` names a
    run in step lines (a chain step's alias), ``secrets`` are values masked in every line.
    """

    # The watcher calls back from its own polling task, whose context is that of whichever trigger
    # started it; run the callback in this wait's context, where Airflow binds the task's log.
    context = contextvars.copy_context()

    def narrator_of(run_id: str) -> RunNarrator | None:
        if log is None:
            return None
        # Made here, in the wait's context, so that its lines reach the task's log.
        return RunNarrator(
            lambda line: log.info("%s", line),
            live_steps=live_steps,
            label=(labels or {}).get(run_id),
            secrets=secrets,
        )

    narrators = {run_id: narrator_of(run_id) for run_id in run_ids}

    def record(run: Run) -> None:
        # Status lines are the narrators'; this keeps the trigger's list of ended runs.
        if finished is not None and run.is_terminal:
            finished.add(run.id)

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
                narrator=narrators.get(run_id),
            )
        except RunTimeoutError as exc:
            return exc.run, True
        except RunError as exc:
            return exc.run, False
        return run, False

    if len(run_ids) == 1:
        # One run (the usual trigger): no extra task to schedule.
        try:
            results = [await wait_one(run_ids[0])]
        except CyberdeskError as exc:
            return error_event(run_ids, str(exc))
        return _event_of(run_ids, results)
    waits = [asyncio.ensure_future(wait_one(run_id)) for run_id in run_ids]
    try:
        results = await asyncio.gather(*waits)
    except CyberdeskError as exc:
        # Stop the other waits too, or the shared watcher would keep polling their runs.
        for pending_wait in waits:
            pending_wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        return error_event(run_ids, str(exc))
    return _event_of(run_ids, results)


def _event_of(run_ids: Sequence[str], results: Sequence[tuple[Run | None, bool]]) -> dict[str, Any]:
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
    :param reattached_run_ids: Runs an earlier try created that this task reattached to; echoed
        in the event (``reattached_run_ids``) for the operator, which defers without keeping
        state of its own.
    :param live_steps: Write each run's new agent steps to the task log while it runs (status
        changes are written either way, with workflow and machine names).
    :param run_labels: ``{run_id: label}`` naming runs in step lines (a chain step's alias);
        runs not named are shown by id. Labels are aliases, never secrets.
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
        reattached_run_ids: Sequence[str] | None = None,
        live_steps: bool = True,
        run_labels: Mapping[str, str] | None = None,
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
        self.reattached_run_ids = list(reattached_run_ids or [])
        self.live_steps = live_steps
        self.run_labels = dict(run_labels or {})
        self._finished: set[str] = set()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and JSON-serialisable kwargs (no secret)."""
        ids: dict[str, Any] = (
            {"run_id": self.run_ids[0]} if len(self.run_ids) == 1 else {"run_ids": self.run_ids}
        )
        # Only when set, so that the kwargs of an ordinary wait stay as they always were.
        extra: dict[str, Any] = (
            {"reattached_run_ids": self.reattached_run_ids} if self.reattached_run_ids else {}
        )
        if not self.live_steps:
            extra["live_steps"] = False
        if self.run_labels:
            extra["run_labels"] = self.run_labels
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
                **extra,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the runs through the loop's shared watcher and yield one event."""
        try:
            credentials = await shared_credentials(self.conn_id)
        except CyberdeskError as exc:
            yield TriggerEvent(error_event(self.run_ids, str(exc)))  # type: ignore[no-untyped-call]
            return
        event = await collect_runs(
            SharedWatcherSource(credentials, self.poll_interval),
            self.run_ids,
            deadline=_parse(self.deadline),
            workflow_id=self.workflow_id,
            session_id=self.session_id,
            created_at=_parse(self.created_at),
            log=self.log,
            finished=self._finished,
            live_steps=self.live_steps,
            labels=self.run_labels,
        )
        if self.reattached_run_ids:
            event[EVENT_REATTACHED] = list(self.reattached_run_ids)
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
