"""Start many identical runs of one workflow with a single bulk request and wait for all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow.exceptions import CyberdeskBulkRunFailedError
from cyberdesk_airflow.links import push_run_link
from cyberdesk_airflow.operators.base import CyberdeskWaitingOperator
from cyberdesk_airflow.operators.run import resolve_file_inputs, resolve_sensitive_inputs
from cyberdesk_core import RunError, derive_idempotency_key

if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context
    from cyberdesk_core import CyberdeskClient, Run


class CyberdeskBulkRunOperator(CyberdeskWaitingOperator):
    """Create ``count`` runs of a workflow in one request, wait for all, return a summary.

    Waiting polls the whole batch with a few list calls (shared polling), not one request per run.
    The summary (also the XCom ``return_value``) holds counts by status, run ids and outputs.
    ``fail_on`` decides when the task fails: ``"any"`` failed run (default), ``"all"`` runs
    failed, or ``"never"``. XCom ``run_ids`` lists every run; ``run_id`` / ``run_url`` the first.

    :param workflow_id: Workflow to run (templated).
    :param count: Number of runs, 1..1000 (templated).
    :param input_values: Inputs shared by every run (templated).
    :param sensitive_input_values: Secret inputs (not templated, masked).
    :param sensitive_input_variables: ``{input_name: variable_key}`` read at execution time.
    :param file_inputs: Files for every run (templated).
    :param machine_id: Run on this machine (templated).
    :param pool_ids: Run on machines in all these pools (templated).
    :param session_id: Add the runs to this session (templated).
    :param start_session: Start one new session for all runs.
    :param is_priority: Assign machines before non-priority runs.
    :param fail_on: ``"any"``, ``"all"`` or ``"never"``.
    :param live_steps: Write each run's new agent steps to the task log while it runs (named by
        run id).

    Each run's report goes to XCom ``cyberdesk_reports`` (a list in run order; failed runs with
    error, last steps and screenshot links), the summed agent steps to ``cyberdesk_usage`` and
    to the task log (``Cyberdesk usage: ...``).
    """

    reports_many_runs = True

    template_fields = (
        "workflow_id",
        "count",
        "input_values",
        "sensitive_input_variables",
        "file_inputs",
        "machine_id",
        "pool_ids",
        "session_id",
        "cyberdesk_conn_id",
    )
    template_fields_renderers = {"input_values": "json"}

    def __init__(
        self,
        *,
        workflow_id: str,
        count: int | str,
        input_values: Mapping[str, Any] | None = None,
        sensitive_input_values: Mapping[str, Any] | None = None,
        sensitive_input_variables: Mapping[str, str] | None = None,
        file_inputs: Sequence[Any] | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        start_session: bool | None = None,
        is_priority: bool | None = None,
        fail_on: str = "any",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        from cyberdesk_core import FailPolicy

        FailPolicy.parse(fail_on, "fail_on")  # fail at DAG parse time on a typo
        self.workflow_id = workflow_id
        self.count = count
        self.input_values = input_values
        self.sensitive_input_values = sensitive_input_values
        self.sensitive_input_variables = sensitive_input_variables
        self.file_inputs = file_inputs
        self.machine_id = machine_id
        self.pool_ids = pool_ids
        self.session_id = session_id
        self.start_session = start_session
        self.is_priority = is_priority
        self.fail_on = fail_on

    def execute(self, context: Context) -> Any:
        """Bulk-create the runs (an earlier try's batch is reconciled run by run), then wait."""
        ti = context["ti"]
        parts = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "bulk")
        request: dict[str, Any] = {
            "input_values": dict(self.input_values) if self.input_values else None,
            "sensitive_input_values": resolve_sensitive_inputs(
                self.sensitive_input_values, self.sensitive_input_variables
            ),
            "file_inputs": resolve_file_inputs(self.file_inputs),
            "machine_id": self.machine_id,
            # Passed as given: the core rejects an empty list (it would drop the placement).
            "pool_ids": self.pool_ids,
            "session_id": self.session_id,
            "start_session": self.start_session,
            "is_priority": self.is_priority,
        }
        with self.hook.get_client() as client:
            result = client.runs.bulk_create(
                self.workflow_id,
                int(self.count),
                **request,
                idempotency_key=derive_idempotency_key(*parts),
            )
            runs = list(result.created_runs)
            started = getattr(ti, "start_date", None)
            earlier = started is not None and all(run.created_at < started for run in runs)
            if ti.try_number > 1 and runs and earlier:
                runs = self._reconcile_earlier_batch(client, runs, context, request)
            if not runs:
                raise CyberdeskBulkRunFailedError(
                    f"Cyberdesk created no runs: {'; '.join(result.errors or []) or 'no details'}",
                    failed_run_ids=[],
                )
            url = client.run_url(runs[0].id)
        if result.failed_count:
            self.log.warning(
                "Cyberdesk could not create %s of %s runs: %s",
                result.failed_count,
                self.count,
                "; ".join(result.errors or []),
            )
        self.record_try(context)
        self._active_run_ids = [run.id for run in runs]
        push_run_link(context, runs[0].id, url, runs[0].session_id)
        ti.xcom_push(key="run_ids", value=self._active_run_ids)
        self.log.info("Created %s Cyberdesk runs of workflow %s", len(runs), self.workflow_id)
        if not self.wait_for_completion:
            return None
        return self.wait_for_runs(context, runs, workflow_id=self.workflow_id)

    def task_secrets(self) -> Any:
        """The sensitive input values (literal and from Variables), masked in lines and reports."""
        return (
            resolve_sensitive_inputs(self.sensitive_input_values, self.sensitive_input_variables)
            or ()
        )

    def _reconcile_earlier_batch(
        self, client: CyberdeskClient, runs: list[Run], context: Context, request: dict[str, Any]
    ) -> list[Run]:
        """The core's rule for each run of an earlier try's batch (the runs are independent).

        Active runs are waited for, succeeded ones reused, the others re-run in place with
        ``runs.retry`` under a key per try and run; files stay on the runs, so none are re-sent.
        """
        from cyberdesk_core import describe_batch, reconcile_earlier_runs

        ti = context["ti"]
        retry_request = {
            k: v for k, v in request.items() if k not in ("file_inputs", "start_session")
        }

        def retry_options(run_id: str) -> Any:
            key = derive_idempotency_key(
                ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "retry", ti.try_number, run_id
            )
            return {**retry_request, "idempotency_key": key}

        outcomes = reconcile_earlier_runs(
            client,
            [run.id for run in runs],
            retry_options,
            rerun_succeeded=self.rerun_requested(context),
        )
        self.log.info("%s", describe_batch(outcomes))
        return [outcome.run for outcome in outcomes]

    def complete(self, context: Context, runs: list[Run]) -> dict[str, Any]:
        """Summarise the batch and apply ``fail_on``."""
        from cyberdesk_core import BulkSummary, FailPolicy

        summary = BulkSummary.from_runs(runs)
        self.log.info("Cyberdesk batch finished: %s", summary.describe())
        try:
            FailPolicy.parse(self.fail_on, "fail_on").check(summary)
        except RunError as exc:
            failed = summary.failed_ids + summary.cancelled_ids
            details = self.failure_details([run for run in runs if run.id in set(failed)])
            raise CyberdeskBulkRunFailedError(str(exc) + details, failed_run_ids=failed) from exc
        return summary.to_dict()
