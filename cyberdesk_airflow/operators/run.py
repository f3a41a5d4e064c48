"""Run one Cyberdesk workflow as an Airflow task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow import _compat
from cyberdesk_airflow._compat import mask_secret
from cyberdesk_airflow._defaults import EVENT_REATTACHED
from cyberdesk_airflow.exceptions import raise_for_run
from cyberdesk_airflow.links import XCOM_ATTACHMENTS, push_run_link
from cyberdesk_airflow.operators.base import CyberdeskWaitingOperator
from cyberdesk_core import derive_idempotency_key

# The client, models, trigger and object storage are imported when a task runs, not when a DAG
# file that uses the operator is parsed.
if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context, ObjectStoragePath
    from cyberdesk_core import CyberdeskClient, FileInput, Run


def resolve_file_inputs(items: Sequence[Any] | None) -> list[FileInput] | None:
    """Read ``ObjectStoragePath`` / URI entries; local paths, bytes and FileInput go to the core."""
    if not items:
        return None
    from cyberdesk_core import FileInput
    from cyberdesk_core.inputs import normalize_file_inputs

    storage_path = _compat.ObjectStoragePath
    local: list[Any] = []
    for item in items:
        if isinstance(item, storage_path) or (isinstance(item, str) and "://" in item):
            path = item if isinstance(item, storage_path) else storage_path(item)
            local.append(FileInput.from_bytes(path.name, path.read_bytes()))
        else:
            local.append(item)
    return normalize_file_inputs(local)


def resolve_sensitive_inputs(
    values: Mapping[str, Any] | None, variables: Mapping[str, str] | None
) -> dict[str, Any] | None:
    """Merge literal sensitive values with ones read from Airflow Variables, masking all of them."""
    if not values and not variables:
        return None
    from airflow.sdk import Variable

    resolved = dict(values or {})
    for name, key in (variables or {}).items():
        resolved[name] = Variable.get(key)
    for value in resolved.values():
        mask_secret(value)
    return resolved


class CyberdeskRunOperator(CyberdeskWaitingOperator):
    """Create a Cyberdesk run, wait for it, and return its ``output_data``.

    The run id, dashboard URL and session id are pushed to XCom (``run_id``, ``run_url``,
    ``session_id``) as soon as the run exists. The return value is the run's ``output_data`` in
    every waiting mode; attachment descriptions (and downloaded paths) go under the XCom key
    ``cyberdesk_attachments``. With ``wait_for_completion=False`` the task returns None at once.

    A retried or cleared task instance sends the same Idempotency-Key (from dag id, run id, task id
    and map index) and gets the earlier try's run back; the core's rule decides
    (``cyberdesk_core.reattaching``, table in docs/guarantees.md): still active, the new try
    reattaches; succeeded, it reuses the run's outputs and redoes only the work after it (e.g.
    the download) without executing the run again; failed, errored or cancelled, it re-runs it
    with ``runs.retry`` (same run id, a key per try number). A succeeded run is executed again
    only when ``rerun_succeeded=True`` or, on Airflow 3.3+, when a person cleared the task.

    Secrets: ``sensitive_input_values`` is not a template field, so it is never rendered into the
    task's rendered fields; prefer ``sensitive_input_variables`` to read secrets from Airflow
    Variables (or a secrets backend) at execution time. Both are masked in logs and never pushed to
    XCom or passed to the trigger.

    :param workflow_id: Workflow to run (templated).
    :param input_values: Workflow inputs; values may be ``{"$ref": ...}`` objects (templated).
    :param sensitive_input_values: Secret inputs, never rendered nor stored by Airflow.
    :param sensitive_input_variables: Secret inputs read from Airflow Variables:
        ``{input_name: variable_key}`` (templated; only the keys are rendered).
    :param file_inputs: Files for the machine: local paths, ``ObjectStoragePath`` or URIs, bytes,
        ``(name, bytes)`` pairs or ``FileInput`` objects (templated).
    :param machine_id: Run on this machine (templated).
    :param pool_ids: Run on a machine in all these pools (templated).
    :param session_id: Join this session (templated).
    :param start_session: Start a session whose id is this run's id.
    :param session_alias: Alias under which later session runs ``$ref`` this run's outputs
        (templated).
    :param release_session_after: Release the session when this run ends.
    :param is_priority: Assign a machine before non-priority runs.
    :param main_prompt: Per-run prompt override (templated).
    :param model_metadata: Per-run model overrides, e.g. ``{"main_agent_model_id": ...}``.
    :param download_attachments_to: Folder (``ObjectStoragePath`` or URI) for the run's output
        attachments after success (templated).
    :param live_steps: Write the run's new agent steps to the task log while it runs.

    The run's report goes to XCom ``cyberdesk_report`` (status, times, usage; for a failed run
    also error, last steps and screenshot links), its agent steps to ``cyberdesk_usage``.
    """

    template_fields = (
        "workflow_id",
        "input_values",
        "sensitive_input_variables",
        "file_inputs",
        "machine_id",
        "pool_ids",
        "session_id",
        "session_alias",
        "main_prompt",
        "download_attachments_to",
        "cyberdesk_conn_id",
    )
    template_fields_renderers = {"input_values": "json"}

    def __init__(
        self,
        *,
        workflow_id: str,
        input_values: Mapping[str, Any] | None = None,
        sensitive_input_values: Mapping[str, Any] | None = None,
        sensitive_input_variables: Mapping[str, str] | None = None,
        file_inputs: Sequence[Any] | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        start_session: bool | None = None,
        session_alias: str | None = None,
        release_session_after: bool | None = None,
        is_priority: bool | None = None,
        main_prompt: str | None = None,
        model_metadata: Mapping[str, Any] | None = None,
        download_attachments_to: ObjectStoragePath | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_id = workflow_id
        self.input_values = input_values
        self.sensitive_input_values = sensitive_input_values
        self.sensitive_input_variables = sensitive_input_variables
        self.file_inputs = file_inputs
        self.machine_id = machine_id
        self.pool_ids = pool_ids
        self.session_id = session_id
        self.start_session = start_session
        self.session_alias = session_alias
        self.release_session_after = release_session_after
        self.is_priority = is_priority
        self.main_prompt = main_prompt
        self.model_metadata = model_metadata
        self.download_attachments_to = download_attachments_to

    def _request(self) -> dict[str, Any]:
        return {
            "input_values": dict(self.input_values) if self.input_values else None,
            "sensitive_input_values": resolve_sensitive_inputs(
                self.sensitive_input_values, self.sensitive_input_variables
            ),
            "file_inputs": resolve_file_inputs(self.file_inputs),
            "machine_id": self.machine_id,
            # Passed as given: the core rejects an empty list (it would drop the placement).
            "pool_ids": self.pool_ids,
            "is_priority": self.is_priority,
            "release_session_after": self.release_session_after,
        }

    def execute(self, context: Context) -> Any:
        """Create (or reattach to) the run, push its ids, then wait or defer."""
        ti = context["ti"]
        key = derive_idempotency_key(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "run")
        request = self._request()
        reattached = False
        with self.hook.get_client() as client:
            run = client.runs.create(
                self.workflow_id,
                **request,
                session_id=self.session_id,
                start_session=self.start_session,
                session_alias=self.session_alias,
                # Create-only options: a retry of the run keeps the ones it was created with.
                main_prompt=self.main_prompt,
                model_metadata=self.model_metadata,
                idempotency_key=key,
            )
            if ti.try_number > 1:
                run, reattached = self._reconcile_earlier_try(client, run, context, request)
            url = client.run_url(run.id)
        self.record_try(context)
        self._active_run_ids = [run.id]
        push_run_link(context, run.id, url, run.session_id)
        self.log.info("Cyberdesk run %s (%s): %s", run.id, run.status, url)
        if not self.wait_for_completion:
            return None
        return self.wait_for_runs(
            context,
            [run],
            workflow_id=self.workflow_id,
            reattached_run_ids=[run.id] if reattached else (),
        )

    def task_secrets(self) -> Any:
        """The sensitive input values (literal and from Variables), masked in lines and reports."""
        return (
            resolve_sensitive_inputs(self.sensitive_input_values, self.sensitive_input_variables)
            or ()
        )

    def _reconcile_earlier_try(
        self, client: CyberdeskClient, run: Run, context: Context, request: dict[str, Any]
    ) -> tuple[Run, bool]:
        """Apply the core's rule to a run an earlier try created (``cyberdesk_core.reattaching``).

        A run created before this try started belongs to an earlier try: still active, this try
        reattaches; succeeded, it is reused (never executed again unless ``rerun_succeeded`` or a
        clear asks for it); otherwise it is re-run with ``runs.retry`` (same run id). Returns the
        run and whether this try reattached to an earlier try's active run.
        """
        from cyberdesk_core import reconcile_earlier_run

        started = getattr(context["ti"], "start_date", None)
        if started is not None and run.created_at >= started:
            return run, False
        outcome = reconcile_earlier_run(
            client,
            run.id,
            rerun_succeeded=self.rerun_requested(context),
            **request,
            session_id=self.session_id,
            idempotency_key=self._retry_key(context),
        )
        self.log.info("%s", outcome.describe())
        return outcome.run, outcome.reattached

    def _retry_key(self, context: Context) -> str:
        ti = context["ti"]
        return derive_idempotency_key(
            ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "retry", ti.try_number
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Complete the task, or re-run a reattached run that got cancelled under this try.

        Clearing a deferred task cancels its run (the old try's trigger ``on_kill``) while the new
        try, sharing the Idempotency-Key, may already have reattached to that very run. Such a
        run (created by an earlier try, cancelled by somebody other than this try) is re-run once
        with ``runs.retry``; the new wait carries no reattachment, so a later cancel fails the
        task as usual. A run this try created or re-ran itself is never re-run.
        """
        rerun = self._rerun_cancelled_reattached(context, event)
        if rerun is None:
            return super().execute_complete(context, event)
        self._active_run_ids = [rerun.id]
        return self.wait_for_runs(context, [rerun], workflow_id=self.workflow_id)

    def _rerun_cancelled_reattached(self, context: Context, event: dict[str, Any]) -> Run | None:
        from cyberdesk_airflow.triggers import EVENT_FAILED, runs_from_event

        reattached = set(event.get(EVENT_REATTACHED) or ())
        if not reattached or event.get("status") != EVENT_FAILED:
            return None
        runs = runs_from_event(event)
        if len(runs) != 1 or runs[0].id not in reattached or runs[0].status != "cancelled":
            return None
        run = runs[0]
        if run.id in getattr(self, "_cancelled_run_ids", ()):
            return None
        self.log.warning(
            "Cyberdesk run %s, created by an earlier try and reattached to, was cancelled "
            "(the earlier try was cleared or killed); running it again for try %s",
            run.id,
            context["ti"].try_number,
        )
        from cyberdesk_core import reconcile_earlier_run

        with self.hook.get_client() as client:
            return reconcile_earlier_run(
                client,
                run.id,
                **self._request(),
                session_id=self.session_id,
                idempotency_key=self._retry_key(context),
            ).run

    def complete(self, context: Context, runs: list[Run]) -> Any:
        """Fail unless the run succeeded; fetch attachments; return ``output_data``."""
        from cyberdesk_airflow.operators.attachments import download_attachments, list_attachments

        run = raise_for_run(runs[0], details=self.failure_details(runs[:1]))
        if run.output_attachment_ids or self.download_attachments_to is not None:
            with self.hook.get_client() as client:
                attachments = list_attachments(client, run.id, "output")
                described = download_attachments(
                    client, attachments, self.download_attachments_to, self.log
                )
            context["ti"].xcom_push(key=XCOM_ATTACHMENTS, value=described)
        return run.output_data
