"""Tasks that act on single Cyberdesk runs: trigger, read, cancel, retry.

Every task has a sync form and an explicit async form (`a` prefix) with the same
parameters and one body, written as steps (`_steps`) that either form drives. Nothing here
is cached (`NO_CACHE`): each call reads or changes live state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from cyberdesk_core import acancel_if_active, cancel_if_active
from cyberdesk_prefect._deprecation import renamed_params
from cyberdesk_prefect._idempotency import task_idempotency_key
from cyberdesk_prefect._params import Params, async_form_of, run_options
from cyberdesk_prefect._run_steps import create_run, record, result_of
from cyberdesk_prefect._secrets import SensitiveInputs, sensitive
from cyberdesk_prefect._steps import Steps, adrive_steps, call, drive_steps
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.observability import RunReporter, get_logger
from cyberdesk_prefect.results import CyberdeskRunResult

if TYPE_CHECKING:
    from cyberdesk_core import CancelOutcome, Run


@task(name="Trigger Cyberdesk run", cache_policy=NO_CACHE)
@renamed_params(sensitive_inputs="sensitive_input_values")
def trigger_cyberdesk_run(
    credentials: CyberdeskCredentials,
    workflow_id: str,
    input_values: dict[str, Any] | None = None,
    sensitive_input_values: SensitiveInputs = None,
    file_inputs: Sequence[Any] | None = None,
    machine_id: str | None = None,
    pool_ids: list[str] | None = None,
    session_id: str | None = None,
    start_session: bool | None = None,
    session_alias: str | None = None,
    release_session_after: bool | None = None,
    is_priority: bool | None = None,
    main_prompt: str | None = None,
    model_metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    rerun_succeeded: bool = False,
    sensitive_inputs: SensitiveInputs = None,
) -> CyberdeskRunResult:
    """Create a Cyberdesk run and return at once (status `scheduling`).

    A retry of this task re-attaches to the run the first try created (the
    Idempotency-Key derives from the flow-run and task-run ids).

    Args:
        credentials: The Cyberdesk credentials block.
        workflow_id: The workflow to run.
        input_values: Workflow variables; values may be `{"$ref": "alias.outputs.x"}`.
        sensitive_input_values: Secrets for `{$name}` prompt variables: the name of a Prefect
            `Secret` block holding a JSON object, a `Secret` block, a `SecretDict`, or a
            mapping of name -> `SecretStr`. Never plain values.
        file_inputs: Files to copy to the machine: paths, `bytes`, `(filename, bytes)`,
            `{filename: bytes | path}` or `cyberdesk_core.FileInput`.
        machine_id: Pin the run to one machine (overrides `pool_ids`).
        pool_ids: The machine must belong to all these pools.
        session_id: Join an existing session (overrides machine and pools).
        start_session: Start a session on the machine this run gets (session id = run id).
        session_alias: Alias under which later session runs can `$ref` this run's outputs.
        release_session_after: Release the session when this run ends.
        is_priority: Assign before non-priority runs.
        main_prompt: Per-run prompt override.
        model_metadata: Per-run model overrides.
        idempotency_key: Your own key; by default one is derived from the task run.
        rerun_succeeded: Execute an earlier try's run again even if it succeeded. Default
            False: a retry (of this task or of its flow run) takes a succeeded run's outputs
            and does not execute it again; a new flow run creates a new run.

    Returns:
        A `CyberdeskRunResult` with the run id, dashboard URL and session id.
    """
    return drive_steps(credentials, _trigger(dict(locals())))


@task(name="Trigger Cyberdesk run", cache_policy=NO_CACHE)
@async_form_of(trigger_cyberdesk_run.fn)
async def atrigger_cyberdesk_run(params: Params) -> CyberdeskRunResult:
    """Async form of `trigger_cyberdesk_run` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _trigger(params))


def _trigger(params: Params) -> Steps[CyberdeskRunResult]:
    credentials: CyberdeskCredentials = params["credentials"]
    key: str | None = params["idempotency_key"]
    options = run_options(params, (yield sensitive(params["sensitive_input_values"])))
    run = yield from create_run(
        options,
        idempotency_key=task_idempotency_key("create", key),
        explicit_key=key is not None,
        credentials=credentials,
        reporter=RunReporter(),
    )
    return result_of(credentials, run)


@task(name="Get Cyberdesk run", cache_policy=NO_CACHE)
def get_cyberdesk_run(credentials: CyberdeskCredentials, run_id: str) -> CyberdeskRunResult:
    """Read a run's current status and outputs (never cached).

    Args:
        credentials: The Cyberdesk credentials block.
        run_id: The run to read.

    Returns:
        A `CyberdeskRunResult` with the run as it is now.
    """
    return drive_steps(credentials, _get(credentials, run_id))


@task(name="Get Cyberdesk run", cache_policy=NO_CACHE)
@async_form_of(get_cyberdesk_run.fn)
async def aget_cyberdesk_run(params: Params) -> CyberdeskRunResult:
    """Async form of `get_cyberdesk_run` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _get(params["credentials"], params["run_id"]))


def _get(credentials: CyberdeskCredentials, run_id: str) -> Steps[CyberdeskRunResult]:
    run = yield call(lambda c: c.runs.get(run_id), lambda c: c.runs.get(run_id))
    return result_of(credentials, run)


@task(name="Cancel Cyberdesk run", cache_policy=NO_CACHE)
def cancel_cyberdesk_run(credentials: CyberdeskCredentials, run_id: str) -> CyberdeskRunResult:
    """Cancel a run that has not ended yet; a run that already ended is left as it is.

    Args:
        credentials: The Cyberdesk credentials block.
        run_id: The run to cancel.

    Returns:
        The run after the call (`cancelled`, or its earlier terminal status).
    """
    return drive_steps(credentials, _cancel(credentials, run_id))


@task(name="Cancel Cyberdesk run", cache_policy=NO_CACHE)
@async_form_of(cancel_cyberdesk_run.fn)
async def acancel_cyberdesk_run(params: Params) -> CyberdeskRunResult:
    """Async form of `cancel_cyberdesk_run` (same parameters and result)."""
    return await adrive_steps(
        params["credentials"], _cancel(params["credentials"], params["run_id"])
    )


def _cancel(credentials: CyberdeskCredentials, run_id: str) -> Steps[CyberdeskRunResult]:
    outcome = yield call(
        lambda c: cancel_if_active(c, run_id), lambda c: acancel_if_active(c, run_id)
    )
    return result_of(credentials, _logged(outcome))


def _logged(outcome: CancelOutcome) -> Run:
    """Log what a cancel task did; the run as it stands."""
    if outcome.cancelled:
        get_logger().info("Cancelled Cyberdesk run %s.", outcome.run.id)
    else:
        get_logger().info(
            "Cyberdesk run %s had already ended as %s.", outcome.run.id, outcome.run.status
        )
    return outcome.run


_RETRY_FIELDS = (
    "input_values",
    "machine_id",
    "pool_ids",
    "reuse_session",
    "session_id",
    "start_session",
    "session_alias",
    "release_session_after",
    "is_priority",
)


def _retry_kwargs(params: Params, sensitive: Mapping[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of `client.runs.retry` from the retry task's parameters."""
    from cyberdesk_core.inputs import normalize_file_inputs

    return {
        **{name: params[name] for name in _RETRY_FIELDS},
        "sensitive_input_values": sensitive,
        "file_inputs": normalize_file_inputs(params["file_inputs"]),
        "idempotency_key": task_idempotency_key("retry", params["idempotency_key"]),
    }


@task(name="Retry Cyberdesk run", cache_policy=NO_CACHE)
@renamed_params(sensitive_inputs="sensitive_input_values")
def retry_cyberdesk_run(
    credentials: CyberdeskCredentials,
    run_id: str,
    input_values: dict[str, Any] | None = None,
    sensitive_input_values: SensitiveInputs = None,
    file_inputs: Sequence[Any] | None = None,
    machine_id: str | None = None,
    pool_ids: list[str] | None = None,
    reuse_session: bool | None = None,
    session_id: str | None = None,
    start_session: bool | None = None,
    session_alias: str | None = None,
    release_session_after: bool | None = None,
    is_priority: bool | None = None,
    idempotency_key: str | None = None,
    sensitive_inputs: SensitiveInputs = None,
) -> CyberdeskRunResult:
    """Ask Cyberdesk to run an ended run again under the same run id.

    Cyberdesk deletes a run's secrets when it ends, so pass `sensitive_input_values` again if the
    workflow needs them. Input files are kept unless `file_inputs` is given.

    Args:
        credentials: The Cyberdesk credentials block.
        run_id: The run to retry (must have ended).
        input_values: New inputs; the previous ones are reused when omitted.
        sensitive_input_values: Secrets to send again (same forms as `trigger_cyberdesk_run`).
        file_inputs: Files that replace the run's input files.
        machine_id: Run on this machine instead.
        pool_ids: Run on a machine of all these pools instead.
        reuse_session: Keep the run's session (Cyberdesk's default is true).
        session_id: Run in this session instead.
        start_session: Start a fresh session.
        session_alias: Alias for the retried run's outputs.
        release_session_after: Release the session when the run ends.
        is_priority: Change the priority.
        idempotency_key: Your own key; by default one is derived from the task run.

    Returns:
        The run, back in `scheduling`.
    """
    return drive_steps(credentials, _retry(dict(locals())))


@task(name="Retry Cyberdesk run", cache_policy=NO_CACHE)
@async_form_of(retry_cyberdesk_run.fn)
async def aretry_cyberdesk_run(params: Params) -> CyberdeskRunResult:
    """Async form of `retry_cyberdesk_run` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _retry(params))


def _retry(params: Params) -> Steps[CyberdeskRunResult]:
    credentials: CyberdeskCredentials = params["credentials"]
    run_id: str = params["run_id"]
    kwargs = _retry_kwargs(params, (yield sensitive(params["sensitive_input_values"])))
    run = yield call(
        lambda c: c.runs.retry(run_id, **kwargs), lambda c: c.runs.retry(run_id, **kwargs)
    )
    yield record([run.id], credentials)
    RunReporter().created(run, credentials.run_url(run.id), action="retried")
    return result_of(credentials, run)
