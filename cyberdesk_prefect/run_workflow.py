"""`run_cyberdesk_workflow` (trigger + wait + fetch in one task) and `wait_for_cyberdesk_run`.

Each task's sync and async forms share one body, written as steps (`_steps`).

`run_cyberdesk_workflow` is the task most flows need: it is mappable and retryable.

* The wait polls inside the task (one task run, not one per poll), logging only changes;
  every wait of the process shares one poller per credentials (`cyberdesk_core.watch_hub`).
* A retry (of the task or of its flow run) gets the run the first try created and applies
  the core's rule (`cyberdesk_core.reattaching`): active, it waits; succeeded, it reuses the
  outputs and does not execute the run again; otherwise it asks Cyberdesk to run it again
  under the same run id (`POST /v1/runs/{id}/retry`, secrets re-sent) with a key unique to
  the try.
* If the wait is abandoned (task `timeout_seconds`, `timeout`, cancellation of the
  flow run), the Cyberdesk run is cancelled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import WritableFileSystem

from cyberdesk_prefect._deprecation import renamed_params
from cyberdesk_prefect._idempotency import task_idempotency_key
from cyberdesk_prefect._param_docs import args_from
from cyberdesk_prefect._params import (
    Params,
    async_form_of,
    finish_settings,
    run_options,
    wait_settings,
)
from cyberdesk_prefect._run_steps import create_run, finish_run
from cyberdesk_prefect._run_wait import wait_for_run
from cyberdesk_prefect._secrets import SensitiveInputs, plaintext, sensitive
from cyberdesk_prefect._steps import Steps, adrive_steps, drive_steps
from cyberdesk_prefect._watch_hub import RunHints
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.observability import RunReporter
from cyberdesk_prefect.results import CyberdeskRunResult
from cyberdesk_prefect.runs import trigger_cyberdesk_run


def _concurrency_slot(name: str | None) -> AbstractContextManager[object]:
    """One slot of the global concurrency limit `name` (nothing when None)."""
    if not name:
        return contextlib.nullcontext()
    from prefect.concurrency.sync import concurrency

    # strict=True: a missing limit is a configuration error, not "unlimited".
    return concurrency(name, occupy=1, strict=True)


def _async_concurrency_slot(name: str | None) -> AbstractAsyncContextManager[object]:
    """Async form of `_concurrency_slot`."""
    if not name:
        return contextlib.nullcontext()
    from prefect.concurrency.asyncio import concurrency

    return concurrency(name, occupy=1, strict=True)


@task(name="Wait for Cyberdesk run", cache_policy=NO_CACHE)
@renamed_params(
    poll_interval_seconds="poll_interval",
    max_poll_interval_seconds="max_poll_interval",
    max_wait_seconds="timeout",
)
def wait_for_cyberdesk_run(
    credentials: CyberdeskCredentials,
    run_id: str,
    poll_interval: float = 5.0,
    max_poll_interval: float = 30.0,
    timeout: float | None = None,
    raise_on_failure: bool = True,
    cancel_on_abandon: bool = True,
    download_to: str | Path | None = None,
    filesystem: WritableFileSystem | None = None,
    filesystem_folder: str = "",
    create_artifact: bool = True,
    live_steps: bool = True,
    poll_interval_seconds: float | None = None,
    max_poll_interval_seconds: float | None = None,
    max_wait_seconds: float | None = None,
) -> CyberdeskRunResult:
    """Wait for an existing run to end, then fetch its outputs (and files, if asked).

    Args:
        credentials: The Cyberdesk credentials block.
        run_id: The run to wait for.
        poll_interval: Seconds between status reads. Every wait of the process with
            the same credentials and interval shares one poller, which reads runs of one
            workflow or session together with a few list calls.
        max_poll_interval: Longest delay between status reads, in seconds, while the
            Cyberdesk API keeps failing (429, 5xx); back to `poll_interval` once it recovers.
        timeout: Give up after this many seconds: the run is cancelled (unless
            `cancel_on_abandon=False`), then `RunTimeoutError`. None waits for ever.
        raise_on_failure: Raise `RunFailedError` / `RunCancelledError` when the run did not
            succeed; with False the result carries the status instead.
        cancel_on_abandon: Cancel the run if the wait is abandoned (timeout, cancellation).
        download_to: Local folder to download the run's output files to.
        filesystem: A `WritableFileSystem` block to write the output files to instead.
        filesystem_folder: Folder inside `filesystem`.
        create_artifact: Create a markdown artifact `cyberdesk-run-<id>` for the run (its
            report: last steps, error, screenshot links, usage).
        live_steps: Log the agent's new steps (what it clicked or typed, which tool) while
            the run goes on, one line per step; the history is read only when the run
            progressed, at most every 15 seconds. Status changes are logged either way.

    Returns:
        A `CyberdeskRunResult`.
    """
    return drive_steps(credentials, _wait(dict(locals())))


@task(name="Wait for Cyberdesk run", cache_policy=NO_CACHE)
@async_form_of(wait_for_cyberdesk_run.fn)
async def await_cyberdesk_run(params: Params) -> CyberdeskRunResult:
    """Async form of `wait_for_cyberdesk_run` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _wait(params))


def _wait(params: Params) -> Steps[CyberdeskRunResult]:
    credentials: CyberdeskCredentials = params["credentials"]
    settings = wait_settings(params)
    run = yield from wait_for_run(credentials, params["run_id"], settings, RunReporter())
    return (yield from finish_run(credentials, run, finish_settings(params)))


@task(name="Run Cyberdesk workflow", cache_policy=NO_CACHE)
# The create and wait parameters keep their one description on the tasks they come from;
# `args_from` copies it into this docstring, where Prefect's parameter schema reads it.
@args_from(trigger_cyberdesk_run.fn, wait_for_cyberdesk_run.fn)
@renamed_params(
    sensitive_inputs="sensitive_input_values",
    poll_interval_seconds="poll_interval",
    max_poll_interval_seconds="max_poll_interval",
    max_wait_seconds="timeout",
)
def run_cyberdesk_workflow(
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
    poll_interval: float = 5.0,
    max_poll_interval: float = 30.0,
    timeout: float | None = None,
    raise_on_failure: bool = True,
    cancel_on_abandon: bool = True,
    download_to: str | Path | None = None,
    filesystem: WritableFileSystem | None = None,
    filesystem_folder: str = "",
    create_artifact: bool = True,
    concurrency_limit_name: str | None = None,
    idempotency_key: str | None = None,
    rerun_succeeded: bool = False,
    live_steps: bool = True,
    sensitive_inputs: SensitiveInputs = None,
    poll_interval_seconds: float | None = None,
    max_poll_interval_seconds: float | None = None,
    max_wait_seconds: float | None = None,
) -> CyberdeskRunResult:
    """Run a Cyberdesk workflow: create the run, wait for it, fetch outputs and files.

    Args:
        concurrency_limit_name: Name of an existing Prefect global concurrency limit; each
            call holds one slot from before the run is created until it ended, so the limit
            caps how many Cyberdesk runs are in flight. A missing limit is an error.
        idempotency_key: Your own key; by default one is derived from the task run, so
            retries re-attach to the same run.
        rerun_succeeded: Execute an earlier try's run again even if it succeeded. Default
            False: a retry (of this task or of its flow run) takes a succeeded run's outputs
            and does not execute it again; a new flow run creates a new run.

    Returns:
        A `CyberdeskRunResult`.

    Raises:
        RunFailedError: The run ended as `error` or `task_failed`.
        RunCancelledError: The run was cancelled.
        RunTimeoutError: `timeout` passed (the run is cancelled first).
    """
    with _concurrency_slot(concurrency_limit_name):
        return drive_steps(credentials, _run(dict(locals())))


@task(name="Run Cyberdesk workflow", cache_policy=NO_CACHE)
@async_form_of(run_cyberdesk_workflow.fn)
async def arun_cyberdesk_workflow(params: Params) -> CyberdeskRunResult:
    """Async form of `run_cyberdesk_workflow` (same parameters and result)."""
    async with _async_concurrency_slot(params["concurrency_limit_name"]):
        return await adrive_steps(params["credentials"], _run(params))


def _run(params: Params) -> Steps[CyberdeskRunResult]:
    """Create, wait, finish: one client (opened by the create) serves the whole sequence."""
    credentials: CyberdeskCredentials = params["credentials"]
    key: str | None = params["idempotency_key"]
    options = run_options(params, (yield sensitive(params["sensitive_input_values"])))
    wait, reporter = wait_settings(params), RunReporter()
    run = yield from create_run(
        options,
        idempotency_key=task_idempotency_key("run", key),
        explicit_key=key is not None,
        credentials=credentials,
        reporter=reporter,
        cancel_on_abandon=wait.cancel_on_abandon,
    )
    secrets = plaintext(options.sensitive_input_values)
    run = yield from wait_for_run(
        credentials, run.id, wait, reporter, hints=RunHints.of(run), secrets=secrets
    )
    return (yield from finish_run(credentials, run, finish_settings(params), secrets=secrets))
