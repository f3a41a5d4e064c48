"""Sensor that waits for an existing Cyberdesk run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from cyberdesk_airflow._compat import BaseSensorOperator, Context, PokeReturnValue, conf
from cyberdesk_airflow.exceptions import CyberdeskRunTimeoutError, CyberdeskWaitError, raise_for_run
from cyberdesk_airflow.hooks import CyberdeskHook
from cyberdesk_airflow.links import XCOM_RUN_ID, XCOM_RUN_URL, CyberdeskRunLink
from cyberdesk_airflow.triggers import (
    EVENT_ERROR,
    EVENT_TIMEOUT,
    CyberdeskRunTrigger,
    runs_from_event,
)
from cyberdesk_core import Run


class CyberdeskRunSensor(BaseSensorOperator):
    """Wait until a Cyberdesk run ends; return its ``output_data``.

    Works in ``poke`` and ``reschedule`` mode (``mode=...``) and deferred (``deferrable=True``,
    waiting in the triggerer). The run failing (``task_failed``, ``error``, ``cancelled`` or an
    unknown terminal status) fails the task with the run's errors, last steps and screenshot
    links; the run's report goes to XCom ``cyberdesk_report`` (and its usage to
    ``cyberdesk_usage``). The sensor only watches: it never cancels the run, also not on timeout.

    :param run_id: Run to wait for (templated).
    :param cyberdesk_conn_id: Cyberdesk connection id.
    :param deferrable: Wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: Seconds between checks (all modes).
    :param timeout: Seconds before the sensor fails (all modes); a deferred sensor also stops at
        ``execution_timeout``.
    :param live_steps: Deferred, write the run's new agent steps to the task log while it runs
        (poke and reschedule modes log its status at each poke).
    """

    template_fields = ("run_id", "cyberdesk_conn_id")
    operator_extra_links = (CyberdeskRunLink(),)
    ui_color = "#e9e4ff"

    def __init__(
        self,
        *,
        run_id: str,
        cyberdesk_conn_id: str = CyberdeskHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        live_steps: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.live_steps = live_steps
        self.run_id = run_id
        self.cyberdesk_conn_id = cyberdesk_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> CyberdeskHook:
        """Hook for ``cyberdesk_conn_id``."""
        return CyberdeskHook(self.cyberdesk_conn_id)

    def _push_link(self, context: Context, url: str) -> None:
        ti = context["ti"]
        ti.xcom_push(key=XCOM_RUN_ID, value=self.run_id)
        ti.xcom_push(key=XCOM_RUN_URL, value=url)
        ti.xcom_push(key=CyberdeskRunLink().xcom_key, value=url)

    def poke(self, context: Context) -> PokeReturnValue:
        """One status check; done with ``output_data`` on success, raises on failure."""
        with self.hook.get_client() as client:
            run = client.runs.get(self.run_id)
            self._push_link(context, client.run_url(run.id))
        self.log.info("Cyberdesk run %s is %s", run.id, run.status)
        if not run.is_terminal:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, run))

    def _finish(self, context: Context, run: Run) -> Any:
        """Report the ended run (XCom ``cyberdesk_report``; a failure's details in the log and
        the exception) and return its ``output_data``, or raise."""
        from cyberdesk_airflow._reports import build_reports, failure_details, push_reports

        reports = build_reports(self.hook, [run], secrets=(), log=self.log)
        push_reports(context, [run], reports, many=False, log=self.log)
        return raise_for_run(run, details=failure_details(reports.values())).output_data

    def execute(self, context: Context) -> Any:
        """Poke once; when the run is still going and ``deferrable``, hand over to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        deadline = datetime.now(timezone.utc) + timedelta(seconds=float(self.timeout))
        if self.execution_timeout is not None:
            started = getattr(context["ti"], "start_date", None) or deadline
            deadline = min(deadline, started + self.execution_timeout)
        self.defer(
            trigger=CyberdeskRunTrigger(
                conn_id=self.cyberdesk_conn_id,
                run_id=self.run_id,
                poll_interval=float(self.poke_interval),
                deadline=deadline.isoformat(),
                cancel_on_kill=False,
                live_steps=self.live_steps,
            ),
            method_name="execute_complete",
            timeout=None,
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Return the run's ``output_data`` or fail with its errors."""
        status = event.get("status")
        if status == EVENT_ERROR:
            raise CyberdeskWaitError(f"Waiting for Cyberdesk run failed: {event.get('message')}")
        if status == EVENT_TIMEOUT:
            raise CyberdeskRunTimeoutError(
                f"Cyberdesk run {self.run_id} did not finish within the sensor timeout",
                run_ids=[self.run_id],
            )
        return self._finish(context, runs_from_event(event)[0])
