"""Chains: several workflows run back to back in one session on one machine.

A step can use an earlier step's outputs with `{"$ref": "<alias>.outputs.<path>"}` (or
`cyberdesk_core.RefValue("<alias>.outputs.<path>")`) in its inputs; Cyberdesk resolves the
reference when the step starts. `run_cyberdesk_chain` creates the chain, records its runs on
the flow run, waits for every step through the process's shared watcher hub (the steps of
a session are polled together, and with the other waits of the process; each step's agent
steps are logged as they happen, labelled by its alias) and returns the outputs keyed by step
alias, with each step's usage and report and their sum. A table artifact has one row per step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from cyberdesk_core import (
    ChainResumed,
    ChainStep,
    ConfigurationError,
    aresume_earlier_chain,
    resume_earlier_chain,
)
from cyberdesk_prefect._batch_wait import RunRef, wait_for_runs
from cyberdesk_prefect._deprecation import renamed_params
from cyberdesk_prefect._forensics import log_usage, raise_with_report, run_reports
from cyberdesk_prefect._idempotency import task_idempotency_key
from cyberdesk_prefect._params import Params, async_form_of, wait_settings
from cyberdesk_prefect._resume import chain_step_options, created_by_earlier_try, held_session
from cyberdesk_prefect._run_steps import artifact, record, result_of
from cyberdesk_prefect._run_table import run_table
from cyberdesk_prefect._secrets import SensitiveInputs, plaintext, sensitive
from cyberdesk_prefect._steps import Steps, adrive_steps, call, drive_steps
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.observability import RunReporter, get_logger
from cyberdesk_prefect.results import CyberdeskChainResult

StepLike = ChainStep | Mapping[str, Any]


def _steps(steps: Sequence[StepLike], *, resolved: list[dict[str, Any] | None]) -> list[StepLike]:
    out: list[StepLike] = []
    for index, step in enumerate(steps):
        if isinstance(step, ChainStep) or resolved[index] is None:
            out.append(step)
        else:
            out.append({**dict(step), "sensitive_inputs": resolved[index]})
    return out


def _step_secrets(steps: Sequence[StepLike]) -> list[SensitiveInputs]:
    if isinstance(steps, (str, bytes)) or not steps:
        raise ConfigurationError("steps must be a non-empty list of ChainStep (or mappings).")
    return [None if isinstance(step, ChainStep) else step.get("sensitive_inputs") for step in steps]


def _aliases(steps: Sequence[StepLike]) -> list[str | None]:
    """Each step's session alias (None where it has none), in step order."""
    return [
        step.session_alias if isinstance(step, ChainStep) else step.get("session_alias")
        for step in steps
    ]


def _plain_secrets(params: Params) -> Any:
    """Every plaintext secret the chain was started with, for masking in logs and reports."""
    step_secrets, shared = params["_secrets"]
    given = [step.sensitive_inputs for step in params["steps"] if isinstance(step, ChainStep)]
    return plaintext([*step_secrets, shared, *given])


def _log_created(chain: Any, count: int) -> None:
    get_logger().info(
        "Created a Cyberdesk chain of %d step(s) in session %s: %s",
        count,
        chain.session_id,
        ", ".join(chain.run_ids),
    )


@task(name="Run Cyberdesk chain", cache_policy=NO_CACHE)
@renamed_params(poll_interval_seconds="poll_interval", max_wait_seconds="timeout")
def run_cyberdesk_chain(
    credentials: CyberdeskCredentials,
    steps: Sequence[StepLike],
    shared_inputs: dict[str, Any] | None = None,
    shared_sensitive_inputs: SensitiveInputs = None,
    shared_file_inputs: Sequence[Any] | None = None,
    keep_session_after_completion: bool | None = None,
    machine_id: str | None = None,
    pool_ids: list[str] | None = None,
    session_id: str | None = None,
    is_priority: bool | None = None,
    wait: bool = True,
    poll_interval: float = 5.0,
    timeout: float | None = None,
    raise_on_failure: bool = True,
    cancel_on_abandon: bool = True,
    create_artifact: bool = True,
    idempotency_key: str | None = None,
    rerun_succeeded: bool = False,
    live_steps: bool = True,
    poll_interval_seconds: float | None = None,
    max_wait_seconds: float | None = None,
) -> CyberdeskChainResult:
    """Run workflows one after another in one Cyberdesk session, passing outputs by `$ref`.

    Args:
        credentials: The Cyberdesk credentials block.
        steps: `ChainStep(workflow_id, session_alias, inputs, sensitive_inputs)` objects or
            mappings with those keys; a mapping's `sensitive_inputs` takes the same forms as
            `trigger_cyberdesk_run`'s.
        shared_inputs: Inputs for every step whose workflow declares them.
        shared_sensitive_inputs: Secrets for every step (same forms as above).
        shared_file_inputs: Files copied into the session.
        keep_session_after_completion: Keep the machine reserved after the last step.
        machine_id: Machine for the new session.
        pool_ids: Pools the new session's machine must belong to.
        session_id: Run the chain in an existing session.
        is_priority: Assign before non-priority runs.
        wait: Wait for every step to end (default); False returns right after creation.
        poll_interval: Seconds between polling rounds (shared by all the runs).
        timeout: Give up after this many seconds (`RunTimeoutError`; unfinished steps are
            cancelled first, unless `cancel_on_abandon=False`). None waits for ever.
        raise_on_failure: Raise for the first step that did not succeed.
        cancel_on_abandon: Cancel unfinished steps if the wait is abandoned.
        create_artifact: Create one markdown artifact per step (its report: last steps,
            error, screenshot links, usage) and one table artifact with a row per step.
        idempotency_key: Your own key; by default one is derived from the task run.
        rerun_succeeded: Execute an earlier try's succeeded steps again. Default False: a
            retry (of this task or of its flow run) reuses the steps that succeeded and runs
            again, in place, only the steps from the first one that did not succeed.
        live_steps: Log the agent's new steps (what it clicked or typed, which tool) while
            the run goes on, one line per step; the history is read only when the run
            progressed, at most every 15 seconds. Status changes are logged either way.

    Returns:
        A `CyberdeskChainResult`; `.outputs` maps each step alias to its `output_data`.
    """
    return drive_steps(credentials, _run_chain(dict(locals())))


@task(name="Run Cyberdesk chain", cache_policy=NO_CACHE)
@async_form_of(run_cyberdesk_chain.fn)
async def arun_cyberdesk_chain(params: Params) -> CyberdeskChainResult:
    """Async form of `run_cyberdesk_chain` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _run_chain(params))


def _run_chain(params: Params) -> Steps[CyberdeskChainResult]:
    credentials: CyberdeskCredentials = params["credentials"]
    step_secrets: list[dict[str, Any] | None] = []
    for secrets in _step_secrets(params["steps"]):
        step_secrets.append((yield sensitive(secrets, "steps.sensitive_inputs")))
    shared = yield sensitive(params["shared_sensitive_inputs"], "shared_sensitive_inputs")
    params = {**params, "_secrets": (step_secrets, shared)}
    chain_steps, options = _chain_args(params, step_secrets, shared)
    chain = yield call(
        lambda c: c.runs.chain(chain_steps, **options),
        lambda c: c.runs.chain(chain_steps, **options),
    )
    refs = _refs(chain, _aliases(params["steps"]))
    if created_by_earlier_try(params):
        run_ids, resume_args = chain.run_ids, _resume_args(params, chain)
        resumed = yield call(
            lambda c: resume_earlier_chain(c, run_ids, **resume_args),
            lambda c: aresume_earlier_chain(c, run_ids, **resume_args),
        )
        chain, refs = _after_resume(chain, resumed, _aliases(params["steps"]))
    yield record(chain.run_ids, credentials)
    _log_created(chain, len(params["steps"]))
    if not params["wait"]:
        return CyberdeskChainResult(session_id=chain.session_id, run_ids=chain.run_ids)
    masked = _plain_secrets(params)
    ended = yield from wait_for_runs(
        credentials, refs, wait_settings(params), RunReporter(), secrets=masked
    )
    reports = yield run_reports(ended, secrets=masked)
    results = [result_of(credentials, run, report=r) for run, r in zip(ended, reports, strict=True)]
    log_usage([r.usage for r in results], "chain")
    if params["create_artifact"]:
        for result in results:
            yield artifact(result)
        yield run_table(results, "chain")
    return _finished(params, chain, ended, results)


_CHAIN_FIELDS = (
    "shared_inputs",
    "shared_file_inputs",
    "keep_session_after_completion",
    "machine_id",
    "pool_ids",
    "session_id",
    "is_priority",
)


def _chain_args(
    params: Params, step_secrets: list[dict[str, Any] | None], shared_secrets: Any
) -> tuple[list[StepLike], dict[str, Any]]:
    """The steps and the keyword arguments of `client.runs.chain`."""
    return _steps(params["steps"], resolved=step_secrets), {
        **{name: params[name] for name in _CHAIN_FIELDS},
        "shared_sensitive_inputs": shared_secrets,
        "idempotency_key": task_idempotency_key("chain", params["idempotency_key"]),
    }


def _resume_args(params: Params, chain: Any) -> dict[str, Any]:
    step_secrets, shared_secrets = params["_secrets"]
    return {
        "step_options": chain_step_options(params, step_secrets, shared_secrets),
        "rerun_succeeded": params["rerun_succeeded"],
        "session_id": held_session(params, chain.session_id),
    }


def _after_resume(
    chain: Any, resumed: ChainResumed, aliases: list[str | None]
) -> tuple[Any, list[RunRef]]:
    """The chain as resumed (same run ids; the session of its last step, a tail's new one) and
    what the watcher needs: a resumed chain spans two sessions, so each run has its own hint."""
    get_logger().info("%s", resumed.describe())
    session_id = resumed.runs[-1].session_id or chain.session_id
    refs = [
        RunRef(run.id, run.workflow_id, run.session_id, None, alias)
        for run, alias in zip(resumed.runs, _padded(aliases, len(resumed.runs)), strict=True)
    ]
    return chain.model_copy(update={"session_id": session_id}), refs


def _padded(aliases: list[str | None], count: int) -> list[str | None]:
    return (aliases + [None] * count)[:count]


def _refs(chain: Any, aliases: list[str | None]) -> list[RunRef]:
    return [
        RunRef(run_id, None, chain.session_id, None, alias)
        for run_id, alias in zip(chain.run_ids, _padded(aliases, len(chain.run_ids)), strict=True)
    ]


def _finished(
    params: Params, chain: Any, ended: list[Any], results: list[Any]
) -> CyberdeskChainResult:
    if params["raise_on_failure"]:
        for run, result in zip(ended, results, strict=True):
            raise_with_report(run, result.report)
    return CyberdeskChainResult(session_id=chain.session_id, run_ids=chain.run_ids, results=results)
