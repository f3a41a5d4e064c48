"""Run several workflows back to back in one Cyberdesk session (the chain endpoint)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow.exceptions import CyberdeskChainStepFailedError, describe_failure
from cyberdesk_airflow.links import push_run_link
from cyberdesk_airflow.operators.base import CyberdeskWaitingOperator
from cyberdesk_airflow.operators.run import resolve_file_inputs, resolve_sensitive_inputs
from cyberdesk_core import derive_idempotency_key
from cyberdesk_core.chain_keys import chain_step_key

if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context
    from cyberdesk_core import ChainStep, CyberdeskClient, Run


def step_name(step: Mapping[str, Any], index: int) -> str:
    """The step's ``session_alias``, or ``step_<n>`` (1-based) when it has none (core rule)."""
    return chain_step_key(step.get("session_alias"), index)


def refuse_secrets_in_steps(steps: object) -> None:
    """Raise ``ValueError`` if a step carries secret values (a ``sensitive_inputs`` key or any
    key naming something sensitive or secret); the message names the step, never the value.

    ``steps`` is a templated field: Airflow serializes it with the DAG and stores it rendered,
    so secrets there would be readable. Checked when the operator is made (DAG parse time, for
    literal steps) and again at execute time (for steps that came from a template or XCom).
    """
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
        return  # a template or XComArg: checked once rendered
    for index, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        for key in step:
            if isinstance(key, str) and ("sensitive" in key.lower() or "secret" in key.lower()):
                raise ValueError(
                    f"Chain step {step_name(step, index)!r} has {key} inside the templated "
                    "steps; pass them as step_sensitive_inputs={alias: {...}} instead."
                )


class CyberdeskChainOperator(CyberdeskWaitingOperator):
    """Run workflow steps in order on one reserved machine and return ``{alias: output_data}``.

    Steps may reference earlier steps' outputs with ``{"$ref": "<alias>.outputs.<path>"}`` (or
    ``cyberdesk_core.RefValue``); Cyberdesk resolves them when the step starts. The task waits for
    every step and fails naming the first step that did not succeed. XCom ``run_id`` / ``run_url``
    point at the first step; ``run_ids`` lists all of them; ``session_id`` is the chain's session.

    :param steps: ``[{"workflow_id": ..., "session_alias": ..., "inputs": {...}}, ...]``
        (templated). Secret step inputs go in ``step_sensitive_inputs``, never in ``steps``.
    :param shared_inputs: Inputs offered to every step (templated).
    :param shared_sensitive_inputs: Secret inputs for every step (not templated, masked).
    :param shared_sensitive_input_variables: ``{input_name: variable_key}`` read at execution
        time (templated).
    :param step_sensitive_inputs: ``{step_alias: {name: secret}}`` (not templated, masked).
    :param shared_file_inputs: Files for the session (same forms as the run operator's
        ``file_inputs``; templated).
    :param keep_session_after_completion: Keep the machine reserved after the last step.
    :param machine_id: Machine for a new session (templated).
    :param pool_ids: Pools for a new session (templated).
    :param session_id: Run the chain in this existing session (templated).
    :param is_priority: Assign a machine before non-priority runs.
    :param live_steps: Write each step's new agent steps to the task log while it runs (named
        by the step's alias).

    Each step's report goes to XCom ``cyberdesk_reports`` (a list in step order; a failed step
    with error, last steps and screenshot links), the summed agent steps to ``cyberdesk_usage``
    and to the task log (``Cyberdesk usage: ...``).
    """

    reports_many_runs = True

    template_fields = (
        "steps",
        "shared_inputs",
        "shared_sensitive_input_variables",
        "shared_file_inputs",
        "machine_id",
        "pool_ids",
        "session_id",
        "cyberdesk_conn_id",
    )
    template_fields_renderers = {"steps": "json", "shared_inputs": "json"}

    def __init__(
        self,
        *,
        steps: Sequence[Mapping[str, Any]],
        shared_inputs: Mapping[str, Any] | None = None,
        shared_sensitive_inputs: Mapping[str, Any] | None = None,
        shared_sensitive_input_variables: Mapping[str, str] | None = None,
        step_sensitive_inputs: Mapping[str, Mapping[str, Any]] | None = None,
        shared_file_inputs: Sequence[Any] | None = None,
        keep_session_after_completion: bool | None = None,
        machine_id: str | None = None,
        pool_ids: Sequence[str] | None = None,
        session_id: str | None = None,
        is_priority: bool | None = None,
        **kwargs: Any,
    ) -> None:
        # Before anything else: a DAG file with secrets in its steps must fail to import, so
        # they are never serialized with the DAG nor rendered in the UI.
        refuse_secrets_in_steps(steps)
        super().__init__(**kwargs)
        self.steps = steps
        self.shared_inputs = shared_inputs
        self.shared_sensitive_inputs = shared_sensitive_inputs
        self.shared_sensitive_input_variables = shared_sensitive_input_variables
        self.step_sensitive_inputs = step_sensitive_inputs
        self.shared_file_inputs = shared_file_inputs
        self.keep_session_after_completion = keep_session_after_completion
        self.machine_id = machine_id
        self.pool_ids = pool_ids
        self.session_id = session_id
        self.is_priority = is_priority

    def _chain_steps(self) -> list[ChainStep]:
        from cyberdesk_core import ChainStep

        secrets = dict(self.step_sensitive_inputs or {})
        built = []
        refuse_secrets_in_steps(self.steps)
        for index, step in enumerate(self.steps):
            alias = step_name(step, index)
            sensitive = resolve_sensitive_inputs(secrets.pop(alias, None), None)
            built.append(
                ChainStep(
                    workflow_id=step["workflow_id"],
                    session_alias=step.get("session_alias"),
                    inputs=dict(step["inputs"]) if step.get("inputs") else None,
                    sensitive_inputs=sensitive,
                )
            )
        if secrets:
            raise ValueError(f"step_sensitive_inputs names unknown steps: {sorted(secrets)}")
        return built

    def _create(self, client: CyberdeskClient, key: str) -> tuple[str, list[Run]]:
        result = client.runs.chain(
            self._chain_steps(),
            shared_inputs=dict(self.shared_inputs) if self.shared_inputs else None,
            shared_sensitive_inputs=self._shared_secrets(),
            shared_file_inputs=resolve_file_inputs(self.shared_file_inputs),
            keep_session_after_completion=self.keep_session_after_completion,
            machine_id=self.machine_id,
            # Passed as given: the core rejects an empty list (it would drop the placement).
            pool_ids=self.pool_ids,
            session_id=self.session_id,
            is_priority=self.is_priority,
            idempotency_key=key,
        )
        return result.session_id, [client.runs.get(run_id) for run_id in result.run_ids]

    def _shared_secrets(self) -> dict[str, Any] | None:
        return resolve_sensitive_inputs(
            self.shared_sensitive_inputs, self.shared_sensitive_input_variables
        )

    def task_secrets(self) -> Any:
        """Shared and per-step sensitive inputs, masked in step lines and reports."""
        steps = [dict(values) for values in (self.step_sensitive_inputs or {}).values()]
        return [self._shared_secrets() or {}, *steps]

    def _resume_earlier_chain(
        self, client: CyberdeskClient, session_id: str, runs: list[Run], context: Context
    ) -> list[Run]:
        """The core's rule for an earlier try's chain (``cyberdesk_core.resume_earlier_chain``).

        Active: wait for it. Every step succeeded: reuse it, nothing is executed again. Otherwise
        the steps from the first one that did not succeed run again in place (same run ids),
        each with its secrets again and a key per try and run.
        """
        from cyberdesk_core import resume_earlier_chain

        ti = context["ti"]
        shared = self._shared_secrets() or {}
        steps = self._chain_steps()

        def step_options(index: int, run: Run) -> Any:
            secrets = {**shared, **(steps[index].sensitive_inputs or {})}
            key = derive_idempotency_key(
                ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "retry", ti.try_number, run.id
            )
            return {
                "sensitive_input_values": secrets or None,
                "is_priority": self.is_priority,
                "machine_id": self.machine_id,
                "pool_ids": self.pool_ids,
                "release_session_after": None
                if self.keep_session_after_completion
                else (index == len(steps) - 1),
                "idempotency_key": key,
            }

        held = session_id if (self.keep_session_after_completion or self.session_id) else None
        resumed = resume_earlier_chain(
            client,
            [run.id for run in runs],
            step_options,
            rerun_succeeded=self.rerun_requested(context),
            session_id=held,
        )
        self.log.info("%s", resumed.describe())
        return resumed.runs

    def execute(self, context: Context) -> Any:
        """Create the chain (or apply the core's rule to an earlier try's chain), then wait."""
        ti = context["ti"]
        parts = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index, "chain")
        with self.hook.get_client() as client:
            session_id, runs = self._create(client, derive_idempotency_key(*parts))
            started = getattr(ti, "start_date", None)
            if (
                ti.try_number > 1
                and started is not None
                and all(run.created_at < started for run in runs)
            ):
                runs = self._resume_earlier_chain(client, session_id, runs, context)
                session_id = runs[-1].session_id or session_id
            url = client.run_url(runs[0].id)
        self.record_try(context)
        self._active_run_ids = [run.id for run in runs]
        push_run_link(context, runs[0].id, url, session_id)
        ti.xcom_push(key="run_ids", value=self._active_run_ids)
        self.log.info("Cyberdesk chain in session %s: runs %s", session_id, self._active_run_ids)
        if not self.wait_for_completion:
            return None
        # A resumed chain spans two sessions: no session hint, each run is watched by its id.
        one_session = len({run.session_id for run in runs}) == 1
        # Step lines name each run by its step's alias; a resumed chain keeps the steps' order.
        labels = {
            run.id: step_name(step, index)
            for index, (run, step) in enumerate(zip(runs, self.steps, strict=False))
        }
        return self.wait_for_runs(
            context, runs, session_id=session_id if one_session else None, labels=labels
        )

    def complete(self, context: Context, runs: list[Run]) -> dict[str, Any]:
        """Map step aliases to outputs, or fail naming the first step that did not succeed."""
        by_id = {run.id: run for run in runs}
        ordered = [by_id[run_id] for run_id in self._active_run_ids if run_id in by_id]
        outputs: dict[str, Any] = {}
        for index, run in enumerate(ordered):
            step = self.steps[index] if index < len(self.steps) else {}
            name = step_name(step, index)
            if run.status != "success":
                raise CyberdeskChainStepFailedError(
                    f"Cyberdesk chain step {name!r} (run {run.id}) ended with status "
                    f"{describe_failure(run)}" + self.failure_details([run]),
                    step=name,
                    run_id=run.id,
                    status=str(run.status),
                    errors=run.error,
                )
            outputs[name] = run.output_data
        return outputs
