"""Shared life cycle of the operators that start Cyberdesk runs and wait for them.

create -> push ids and link -> (already finished? complete) -> defer to the trigger or wait in the
worker with the same coroutine -> ``execute_complete`` -> operator-specific result.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow._compat import BaseOperator, conf
from cyberdesk_airflow._defaults import DEFAULT_CONN_ID, EVENT_REATTACHED
from cyberdesk_airflow.exceptions import CyberdeskRunTimeoutError, CyberdeskWaitError
from cyberdesk_airflow.links import CyberdeskRunLink

# DAG files import the operators and every parse pays for their imports, so the hook, the
# trigger and the client are imported inside the methods, when a task runs.
if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context
    from cyberdesk_airflow.hooks import CyberdeskHook
    from cyberdesk_core import Run
    from cyberdesk_core.run_report import RunReport

#: Seconds ``on_kill`` and the timeout path may spend per cancel request.
CANCEL_REQUEST_TIMEOUT = 10.0


class CyberdeskWaitingOperator(BaseOperator):
    """Base class: waits for the runs a subclass created, in the worker or in the triggerer.

    :param cyberdesk_conn_id: Cyberdesk connection id.
    :param wait_for_completion: Wait for the runs to end (False: return right after creating them).
    :param deferrable: Wait in the triggerer instead of the worker; defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: Seconds between status checks.
    :param timeout: Seconds to wait for the runs before cancelling them and failing the task
        (None: no limit besides ``execution_timeout``, which is enforced in both modes).
    :param rerun_succeeded: Execute an earlier try's run again even if it succeeded. Default
        False: a retry takes a succeeded run's outputs and redoes only the work after it (a second
        execution could post a journal twice). On Airflow 3.3+ a person's clear of the task is
        recognised as a deliberate re-run without this flag (docs/guarantees.md).
    :param live_steps: While waiting, write each run's new agent steps to the task log as they
        happen (one line per step, e.g. ``Cyberdesk run <id> step 4: clicked 'Export' (tool
        computer.left_click)``); False writes only the status changes and reads no history.

    Every finished run gets a report (status, times, usage; for a run that did not succeed also
    its error, last steps and signed screenshot links, written to the task log and quoted in the
    exception). XCom ``cyberdesk_usage`` holds the agent steps the task's runs used; the reports
    themselves go under the key the subclass names (``cyberdesk_report`` or
    ``cyberdesk_reports``). They never contain inputs or secrets.
    """

    #: Whether the task's runs are reported together (bulk, chain: ``cyberdesk_reports`` and a
    #: usage line) or as one run (``cyberdesk_report``).
    reports_many_runs = False

    operator_extra_links = (CyberdeskRunLink(),)
    ui_color = "#e9e4ff"

    def __init__(
        self,
        *,
        cyberdesk_conn_id: str = DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        timeout: float | timedelta | None = None,
        rerun_succeeded: bool = False,
        live_steps: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from cyberdesk_core.inputs import validate_timeouts

        # Checked here (DAG parse time), not when waiting: by then the run would already exist.
        validate_timeouts(
            poll_interval=poll_interval,
            timeout=timeout.total_seconds() if isinstance(timeout, timedelta) else timeout,
        )
        self.cyberdesk_conn_id = cyberdesk_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.rerun_succeeded = rerun_succeeded
        self.live_steps = live_steps
        self._reports: dict[str, RunReport] = {}
        self._active_run_ids: list[str] = []
        self._cancelled_run_ids: set[str] = set()

    @cached_property
    def hook(self) -> CyberdeskHook:
        """Hook for ``cyberdesk_conn_id``."""
        from cyberdesk_airflow.hooks import CyberdeskHook

        return CyberdeskHook(self.cyberdesk_conn_id)

    # -- earlier tries ------------------------------------------------------------------------

    def rerun_requested(self, context: Context) -> bool:
        """Whether a succeeded run of an earlier try may be executed again (never on a retry)."""
        from cyberdesk_airflow._tries import cleared_since_last_try

        return self.rerun_succeeded or cleared_since_last_try(context, self.log)

    def record_try(self, context: Context) -> None:
        """Record this try so that a later one can tell a person's clear from a retry."""
        from cyberdesk_airflow._tries import record_try

        record_try(context, self.log)

    # -- secrets and reports --------------------------------------------------------------------

    def task_secrets(self) -> Any:
        """The plaintext secrets this task sends (masked in step lines and reports); none here."""
        return ()

    def _masked_values(self) -> Any:
        try:
            return self.task_secrets()
        except Exception as exc:  # e.g. a Variable gone: nothing to mask beats a lost outcome
            self.log.warning("Could not read the task's sensitive inputs to mask them: %s", exc)
            return ()

    def failure_details(self, runs: Sequence[Run]) -> str:
        """The error, last steps and screenshot links of ``runs`` for an exception message."""
        from cyberdesk_airflow._reports import failure_details

        reports = getattr(self, "_reports", {})
        return failure_details(reports.get(run.id) for run in runs)

    # -- waiting ------------------------------------------------------------------------------

    def deadline(self, context: Context) -> datetime | None:
        """Earliest of now + ``timeout`` and task start + ``execution_timeout``."""
        now = datetime.now(timezone.utc)
        limits: list[datetime] = []
        if self.timeout is not None:
            seconds = (
                self.timeout.total_seconds()
                if isinstance(self.timeout, timedelta)
                else float(self.timeout)
            )
            limits.append(now + timedelta(seconds=seconds))
        if self.execution_timeout is not None:
            start = getattr(context["ti"], "start_date", None) or now
            limits.append(start + self.execution_timeout)
        return min(limits) if limits else None

    def wait_for_runs(
        self,
        context: Context,
        runs: Sequence[Run],
        *,
        workflow_id: str | None = None,
        session_id: str | None = None,
        reattached_run_ids: Sequence[str] = (),
        labels: Mapping[str, str] | None = None,
    ) -> Any:
        """Finish at once if every run ended, else defer or wait here; return the task result.

        ``reattached_run_ids`` (runs an earlier try created) travel with the event to
        ``execute_complete``, through the trigger when deferring. ``labels`` name runs in the
        step lines (``{run_id: label}``, e.g. a chain step's alias; by id otherwise).
        """
        from cyberdesk_airflow.triggers import CyberdeskRunTrigger, make_event, outcome_of

        self._active_run_ids = [run.id for run in runs]
        reattached = {EVENT_REATTACHED: list(reattached_run_ids)} if reattached_run_ids else {}
        if all(run.is_terminal for run in runs):
            event = {**make_event(outcome_of(runs), runs), **reattached}
            return self.execute_complete(context, event)
        deadline = self.deadline(context)
        created_at = min(run.created_at for run in runs)
        if self.deferrable:
            self.defer(
                trigger=CyberdeskRunTrigger(
                    conn_id=self.cyberdesk_conn_id,
                    run_ids=self._active_run_ids,
                    poll_interval=self.poll_interval,
                    deadline=deadline.isoformat() if deadline else None,
                    workflow_id=workflow_id,
                    session_id=session_id,
                    created_at=created_at.isoformat(),
                    reattached_run_ids=list(reattached_run_ids) or None,
                    live_steps=self.live_steps,
                    run_labels=labels,
                ),
                method_name="execute_complete",
                # The trigger enforces the deadline itself and reports it, so the runs get
                # cancelled; a framework timeout would fail the task and leave them running.
                timeout=None,
            )
        event = asyncio.run(
            self._collect_in_worker(deadline, workflow_id, session_id, created_at, labels)
        )
        return self.execute_complete(context, {**event, **reattached})

    async def _collect_in_worker(
        self,
        deadline: datetime | None,
        workflow_id: str | None,
        session_id: str | None,
        created_at: datetime,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        from cyberdesk_airflow.triggers import collect_runs
        from cyberdesk_core.watcher import RunWatcher

        async with (
            self.hook.create_async_client() as client,
            RunWatcher(client, poll_interval=self.poll_interval) as watcher,
        ):
            return await collect_runs(
                watcher,
                self._active_run_ids,
                deadline=deadline,
                workflow_id=workflow_id,
                session_id=session_id,
                created_at=created_at,
                log=self.log,
                live_steps=self.live_steps,
                labels=labels,
                secrets=self._masked_values(),
            )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn a trigger (or worker) event into the task result or a failure."""
        from cyberdesk_airflow.triggers import EVENT_ERROR, EVENT_TIMEOUT, runs_from_event
        from cyberdesk_core.errors import timeout_message

        runs = runs_from_event(event)
        self._active_run_ids = list(event.get("run_ids") or [run.id for run in runs])
        status = event.get("status")
        if status == EVENT_ERROR:
            raise CyberdeskWaitError(f"Waiting for Cyberdesk runs failed: {event.get('message')}")
        if status == EVENT_TIMEOUT:
            terminal = {run.id for run in runs if run.is_terminal}
            pending = [run_id for run_id in self._active_run_ids if run_id not in terminal]
            self.cancel_runs(pending)
            raise CyberdeskRunTimeoutError(
                timeout_message(pending, cancelled=True),
                run_ids=pending,
            )
        self._report(context, runs)
        return self.complete(context, runs)

    def _report(self, context: Context, runs: Sequence[Run]) -> None:
        from cyberdesk_airflow._reports import build_reports, push_reports

        self._reports = build_reports(self.hook, runs, secrets=self._masked_values(), log=self.log)
        push_reports(context, runs, self._reports, many=self.reports_many_runs, log=self.log)

    @abstractmethod
    def complete(self, context: Context, runs: list[Run]) -> Any:
        """Build the task result from terminal runs (subclasses decide what failure means)."""

    # -- cancelling ---------------------------------------------------------------------------

    def cancel_runs(self, run_ids: Sequence[str]) -> None:
        """Cancel unfinished runs with short, bounded requests; never raises."""
        if not run_ids:
            return
        # Remembered so that a run this task cancelled itself is never taken for one that
        # somebody else cancelled (see CyberdeskRunOperator).
        self._cancelled_run_ids = {*getattr(self, "_cancelled_run_ids", ()), *run_ids}
        from cyberdesk_airflow.hooks import CyberdeskHook

        try:
            CyberdeskHook(
                self.cyberdesk_conn_id, timeout=CANCEL_REQUEST_TIMEOUT, max_retries=1
            ).cancel_runs(run_ids)
        except Exception as exc:
            self.log.warning("Could not cancel Cyberdesk runs %s: %s", list(run_ids), exc)

    def on_kill(self) -> None:
        """Cancel the runs this task started when the worker kills it (guarded, bounded)."""
        run_ids = list(getattr(self, "_active_run_ids", []) or [])
        if run_ids:
            self.cancel_runs(run_ids)
