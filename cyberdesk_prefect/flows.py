"""Thin flows around `run_cyberdesk_workflow`, for running a workflow as its own flow run.

Each flow is a single task call plus the cancellation hook: cancelling the flow run (from the
UI, the API or a deployment) cancels the Cyberdesk run it started. The sync and async flows
are separate on purpose: calling an async flow from a sync one returns an un-awaited
coroutine in Prefect 3.

Secrets are passed by reference only (a `Secret` block name): Prefect stores flow-run
parameters, and it serialises even a `SecretDict` parameter in clear.
"""

# No `from __future__ import annotations` here: Prefect builds a pydantic model from the flow
# signature to validate parameters, and older 3.x releases cannot resolve string annotations.
from typing import Any

from prefect import flow

from cyberdesk_prefect._deprecation import renamed_params
from cyberdesk_prefect._params import Params, async_form_of
from cyberdesk_prefect.cancellation import cancel_cyberdesk_runs_on_cancellation
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.results import CyberdeskRunResult
from cyberdesk_prefect.run_workflow import arun_cyberdesk_workflow, run_cyberdesk_workflow


@flow(
    name="Run Cyberdesk workflow",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
@renamed_params(
    sensitive_inputs="sensitive_input_values",
    poll_interval_seconds="poll_interval",
    max_wait_seconds="timeout",
)
def run_cyberdesk_workflow_flow(
    credentials: CyberdeskCredentials,
    workflow_id: str,
    input_values: dict[str, Any] | None = None,
    sensitive_input_values: str | None = None,
    machine_id: str | None = None,
    pool_ids: list[str] | None = None,
    poll_interval: float = 5.0,
    timeout: float | None = None,
    download_to: str | None = None,
    live_steps: bool = True,
    sensitive_inputs: str | None = None,
    poll_interval_seconds: float | None = None,
    max_wait_seconds: float | None = None,
) -> CyberdeskRunResult:
    """Run one Cyberdesk workflow and return its result.

    Args:
        credentials: The Cyberdesk credentials block.
        workflow_id: The workflow to run.
        input_values: Workflow inputs.
        sensitive_input_values: The name of a Prefect `Secret` block holding a JSON object of
            secret inputs. Flow parameters are stored by the Prefect API, so secrets are
            never flow parameters themselves.
        machine_id: Pin the run to one machine.
        pool_ids: The machine must belong to all these pools.
        poll_interval: Seconds between status reads (polling is shared).
        timeout: Give up after this many seconds: the run is cancelled, then
            `RunTimeoutError`.
        download_to: Local folder for the run's output files.
        live_steps: Log the agent's new steps (what it clicked or typed, which tool) while
            the run goes on, one line per step; the history is read only when the run
            progressed, at most every 15 seconds. Status changes are logged either way.
    """
    result: CyberdeskRunResult = run_cyberdesk_workflow(**locals())
    return result


@flow(
    name="Run Cyberdesk workflow (async)",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
@async_form_of(run_cyberdesk_workflow_flow.fn)
async def arun_cyberdesk_workflow_flow(params: Params) -> CyberdeskRunResult:
    """Async form of `run_cyberdesk_workflow_flow` (same parameters and result)."""
    return await arun_cyberdesk_workflow(**params)
