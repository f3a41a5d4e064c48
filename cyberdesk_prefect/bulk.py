"""Bulk runs: create many identical runs in one request, then wait for all of them.

`bulk_create_cyberdesk_runs` returns as soon as the runs exist (and records them on the
flow run for the cancellation hook). `wait_for_cyberdesk_runs` waits for any set of runs
through the process's shared watcher hub: runs of one workflow are polled with a few list
calls, not one GET per run (also across the bulk waits mapped in one flow); each run's steps
are logged as they happen (`live_steps`). Once all ended, each result carries its run's usage
and report (a failed run's report, with its error, last steps and screenshot links, is also
logged), one line logs the summed usage, and two artifacts sum the batch up: a markdown one
(counts, one row per run) and a table one (one row per run, with its agent steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from cyberdesk_core import areconcile_earlier_runs, reconcile_earlier_runs
from cyberdesk_core.summaries import BulkSummary, FailPolicy
from cyberdesk_prefect._batch_wait import RunRef, wait_for_runs
from cyberdesk_prefect._deprecation import renamed_params
from cyberdesk_prefect._forensics import log_usage, run_reports
from cyberdesk_prefect._idempotency import task_idempotency_key
from cyberdesk_prefect._params import Params, async_form_of, wait_settings
from cyberdesk_prefect._resume import batch_retry_options, created_by_earlier_try, log_batch
from cyberdesk_prefect._run_steps import RunUrls, record, result_of
from cyberdesk_prefect._run_table import run_table
from cyberdesk_prefect._secrets import SensitiveInputs, sensitive
from cyberdesk_prefect._steps import Step, Steps, adrive_steps, call, drive_steps, local
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.observability import (
    RunReporter,
    acreate_batch_artifact,
    create_batch_artifact,
    get_logger,
)
from cyberdesk_prefect.results import CyberdeskBulkResult, CyberdeskChainResult, CyberdeskRunResult

FailPolicyName = Literal["any", "all", "never"]
RunsToWait = CyberdeskBulkResult | CyberdeskChainResult | Sequence[str | CyberdeskRunResult]


_BULK_FIELDS = (
    "input_values",
    "machine_id",
    "pool_ids",
    "session_id",
    "start_session",
    "is_priority",
)


def _bulk_kwargs(params: Params, sensitive: Any) -> dict[str, Any]:
    """Keyword arguments of `client.runs.bulk_create` from the bulk task's parameters."""
    from cyberdesk_core.inputs import normalize_file_inputs

    return {
        **{name: params[name] for name in _BULK_FIELDS},
        "sensitive_input_values": sensitive,
        "file_inputs": normalize_file_inputs(params["file_inputs"]),
        "idempotency_key": task_idempotency_key("bulk", params["idempotency_key"]),
    }


def _bulk_result(urls: RunUrls, workflow_id: str, created: Any) -> CyberdeskBulkResult:
    runs = list(created.created_runs)
    first = min((r.created_at for r in runs), default=None)
    sessions = {r.session_id for r in runs if r.session_id}
    result = CyberdeskBulkResult(
        workflow_id=workflow_id,
        run_ids=[str(r.id) for r in runs],
        failed_count=created.failed_count or 0,
        errors=list(created.errors or []),
        created_at=first,
        session_id=sessions.pop() if len(sessions) == 1 else None,
        results=[result_of(urls, r) for r in runs],
    )
    log = get_logger()
    log.info("Created %d Cyberdesk run(s) of workflow %s.", len(runs), workflow_id)
    if result.failed_count:
        log.warning(
            "Cyberdesk could not create %d run(s): %s",
            result.failed_count,
            "; ".join(result.errors),
        )
    return result


@task(name="Bulk create Cyberdesk runs", cache_policy=NO_CACHE)
@renamed_params(sensitive_inputs="sensitive_input_values")
def bulk_create_cyberdesk_runs(
    credentials: CyberdeskCredentials,
    workflow_id: str,
    count: int,
    input_values: dict[str, Any] | None = None,
    sensitive_input_values: SensitiveInputs = None,
    file_inputs: Sequence[Any] | None = None,
    machine_id: str | None = None,
    pool_ids: list[str] | None = None,
    session_id: str | None = None,
    start_session: bool | None = None,
    is_priority: bool | None = None,
    idempotency_key: str | None = None,
    rerun_succeeded: bool = False,
    sensitive_inputs: SensitiveInputs = None,
) -> CyberdeskBulkResult:
    """Create `count` identical runs of a workflow in one request (1..1000).

    Args:
        credentials: The Cyberdesk credentials block.
        workflow_id: The workflow to run.
        count: How many runs to create (1..1000).
        input_values: Inputs shared by every run.
        sensitive_input_values: Secrets shared by every run (same forms as `trigger_cyberdesk_run`).
        file_inputs: Files copied for every run.
        machine_id: Pin every run to one machine.
        pool_ids: Machines must belong to all these pools.
        session_id: Run them all in an existing session.
        start_session: Start one new session shared by all runs.
        is_priority: Assign before non-priority runs.
        idempotency_key: Your own key; by default one is derived from the task run, so a
            retry of this task does not create the batch twice.
        rerun_succeeded: On a retry, execute the batch's succeeded runs again too. Default
            False: a retry (of this task or of its flow run) waits for the runs still active,
            reuses the succeeded ones and runs the others again in place (`runs.retry`).

    Returns:
        A `CyberdeskBulkResult` (run ids, creation errors); pass it to
        `wait_for_cyberdesk_runs`.
    """
    return drive_steps(credentials, _bulk_create(dict(locals())))


@task(name="Bulk create Cyberdesk runs", cache_policy=NO_CACHE)
@async_form_of(bulk_create_cyberdesk_runs.fn)
async def abulk_create_cyberdesk_runs(params: Params) -> CyberdeskBulkResult:
    """Async form of `bulk_create_cyberdesk_runs` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _bulk_create(params))


def _bulk_create(params: Params) -> Steps[CyberdeskBulkResult]:
    credentials: CyberdeskCredentials = params["credentials"]
    workflow_id: str = params["workflow_id"]
    count: int = params["count"]
    secrets = yield sensitive(params["sensitive_input_values"])
    kwargs = _bulk_kwargs(params, secrets)
    created = yield call(
        lambda c: c.runs.bulk_create(workflow_id, count, **kwargs),
        lambda c: c.runs.bulk_create(workflow_id, count, **kwargs),
    )
    if created_by_earlier_try(params):
        run_ids = [run.id for run in created.created_runs]
        retry_options, rerun = batch_retry_options(params, secrets), params["rerun_succeeded"]
        outcomes = yield call(
            lambda c: reconcile_earlier_runs(c, run_ids, retry_options, rerun_succeeded=rerun),
            lambda c: areconcile_earlier_runs(c, run_ids, retry_options, rerun_succeeded=rerun),
        )
        created = created.model_copy(update={"created_runs": log_batch(outcomes)})
    yield record([r.id for r in created.created_runs], credentials)
    return _bulk_result(credentials, workflow_id, created)


def batch_artifact(results: list[CyberdeskRunResult]) -> Step[None]:
    """Create the one markdown artifact of a batch."""
    return local(lambda: create_batch_artifact(results), lambda: acreate_batch_artifact(results))


def run_refs(runs: RunsToWait) -> list[RunRef]:
    """Turn the accepted shapes of "some runs" into watcher references."""
    if isinstance(runs, CyberdeskBulkResult):
        return [
            RunRef(r.run_id, r.workflow_id, r.session_id, r.created_at or runs.created_at)
            for r in runs.results
        ] or [RunRef(i, runs.workflow_id, runs.session_id, runs.created_at) for i in runs.run_ids]
    if isinstance(runs, CyberdeskChainResult):
        return [RunRef(i, None, runs.session_id, None) for i in runs.run_ids]
    refs: list[RunRef] = []
    for item in runs:
        if isinstance(item, CyberdeskRunResult):
            refs.append(RunRef(item.run_id, item.workflow_id, item.session_id, item.created_at))
        else:
            refs.append(RunRef(str(item)))
    return refs


@task(name="Wait for Cyberdesk runs", cache_policy=NO_CACHE)
@renamed_params(
    poll_interval_seconds="poll_interval", max_wait_seconds="timeout", fail_policy="fail_on"
)
def wait_for_cyberdesk_runs(
    credentials: CyberdeskCredentials,
    runs: RunsToWait,
    poll_interval: float = 5.0,
    timeout: float | None = None,
    fail_on: FailPolicyName = "any",
    cancel_on_abandon: bool = True,
    create_artifact: bool = True,
    live_steps: bool = True,
    poll_interval_seconds: float | None = None,
    max_wait_seconds: float | None = None,
    fail_policy: FailPolicyName | None = None,
) -> list[CyberdeskRunResult]:
    """Wait for many runs to end, sharing polling between them.

    Args:
        credentials: The Cyberdesk credentials block.
        runs: A `CyberdeskBulkResult`, a `CyberdeskChainResult`, or a list of run ids /
            `CyberdeskRunResult`s.
        poll_interval: Seconds between polling rounds (shared by all the runs).
        timeout: Give up after this many seconds (`RunTimeoutError`; unfinished runs are
            cancelled first, unless `cancel_on_abandon=False`). None waits for ever.
        fail_on: `"any"` raises if any run did not succeed, `"all"` only if none
            succeeded, `"never"` returns every result.
        cancel_on_abandon: Cancel unfinished runs if the wait is abandoned.
        create_artifact: Create one markdown artifact summarising the batch, and one table
            artifact with a row per run (status, agent steps, error, run page).
        live_steps: Log the agent's new steps (what it clicked or typed, which tool) while
            the run goes on, one line per step; the history is read only when the run
            progressed, at most every 15 seconds. Status changes are logged either way.

    Returns:
        One `CyberdeskRunResult` per run, in the order given.
    """
    return drive_steps(credentials, _wait_all(dict(locals())))


@task(name="Wait for Cyberdesk runs", cache_policy=NO_CACHE)
@async_form_of(wait_for_cyberdesk_runs.fn)
async def await_cyberdesk_runs(params: Params) -> list[CyberdeskRunResult]:
    """Async form of `wait_for_cyberdesk_runs` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _wait_all(params))


def _wait_all(params: Params) -> Steps[list[CyberdeskRunResult]]:
    credentials: CyberdeskCredentials = params["credentials"]
    refs, settings = run_refs(params["runs"]), wait_settings(params)
    ended = yield from wait_for_runs(credentials, refs, settings, RunReporter())
    reports = yield run_reports(ended)
    results = [result_of(credentials, run, report=r) for run, r in zip(ended, reports, strict=True)]
    log_usage([r.usage for r in results], "bulk")
    if params["create_artifact"]:
        yield batch_artifact(results)
        yield run_table(results, "bulk")
    FailPolicy.parse(params["fail_on"]).check(BulkSummary.from_runs(ended))
    return results
