"""What the tests do through the Prefect API, as an operator would: create the work pool, deploy
the flows from their local folders (`flow.from_source(...).deploy(...)`, no image, no `serve`),
start deployment runs, watch their states, cancel and retry them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from dist_prefect_env import (
    CANARY,
    CREDENTIALS_BLOCK,
    EXAMPLES_DIR,
    FLAGSHIP,
    FLOWS_DIR,
    MAPPED,
    POOL,
)
from dist_prefect_stack import poll_until
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas import OrchestrationResult
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun, TaskRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling, Crashed, Scheduled

#: Page size of the server's read endpoints (its default and largest limit).
PAGE = 200


def client() -> SyncPrefectClient:
    """A sync client of the session's server (use as a context manager)."""
    return get_client(sync_client=True)


def create_pool() -> None:
    """The `process` work pool both workers poll."""
    with client() as api:
        api.create_work_pool(WorkPoolCreate(name=POOL, type="process"))


def deploy_flows(flagship_env: Mapping[str, str]) -> None:
    """Deploy the mapped flow (twice: plain and canary) and the flagship from local folders.

    A local `source` gives the deployment a `set_working_directory` pull step: the worker's
    flow-run process loads the entrypoint from that folder, as it would after a `git_clone`.
    The canary deployment logs at DEBUG and persists every result, so the canary search sees
    as much as Prefect can write.
    """
    mapped = _from_source(FLOWS_DIR, "dist_mapped_flow.py:mapped_cyberdesk_runs")
    for name, env in (
        (MAPPED, {}),
        (CANARY, {"PREFECT_LOGGING_LEVEL": "DEBUG", "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true"}),
    ):
        mapped.deploy(
            name=name.split("/")[1],
            work_pool_name=POOL,
            job_variables={"env": env},
            parameters={"credentials_block": CREDENTIALS_BLOCK},
            ignore_warnings=True,
            print_next_steps=False,
        )
    flagship = _from_source(
        EXAMPLES_DIR, "monthly_financial_reporting.py:monthly_financial_reporting"
    )
    flagship.deploy(
        name=FLAGSHIP.split("/")[1],
        work_pool_name=POOL,
        job_variables={"env": dict(flagship_env)},
        ignore_warnings=True,
        print_next_steps=False,
    )


def _from_source(folder: Path, entrypoint: str) -> Flow[..., Any]:
    from prefect import flow

    # `from_source` is sync/async dual (value or coroutine); called from sync code, the flow.
    return cast("Flow[..., Any]", flow.from_source(source=str(folder), entrypoint=entrypoint))


def start_run(deployment: str, parameters: Mapping[str, Any]) -> UUID:
    """Create a flow run of `deployment` for the workers to pick up; returns its id."""
    # `run_deployment` is sync/async dual as well.
    flow_run = cast(FlowRun, run_deployment(deployment, parameters=dict(parameters), timeout=0))
    return flow_run.id


def read_run(flow_run_id: UUID) -> FlowRun:
    """The flow run as the server has it now."""
    with client() as api:
        return api.read_flow_run(flow_run_id)


def wait_run(
    flow_run_id: UUID,
    done: Callable[[FlowRun], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], None] = lambda: None,
) -> FlowRun:
    """Poll the flow run until `done(flow_run)`; `alive()` may raise to stop early."""

    def check() -> FlowRun | None:
        alive()
        run = read_run(flow_run_id)
        return run if done(run) else None

    return poll_until(check, timeout=timeout, what=what)


def wait_final(flow_run_id: UUID, *, timeout: float, alive: Callable[[], None]) -> FlowRun:
    """Wait until the flow run reached a final state."""
    return wait_run(
        flow_run_id,
        lambda run: run.state is not None and run.state.is_final(),
        timeout=timeout,
        what=f"flow run {flow_run_id} to finish",
        alive=alive,
    )


def cancel(flow_run_id: UUID) -> None:
    """Cancel as the UI and `prefect flow-run cancel` do: propose CANCELLING."""
    with client() as api:
        result: OrchestrationResult[Any] = api.set_flow_run_state(flow_run_id, Cancelling())
    assert result.status.value == "ACCEPT", result


def crash_and_retry(flow_run_id: UUID) -> None:
    """Mark a flow run whose process died as Crashed (what zombie detection would do), then
    retry it as the UI's "Retry" does: a forced `Scheduled(name="AwaitingRetry")`."""
    with client() as api:
        api.set_flow_run_state(flow_run_id, Crashed(message="worker killed"), force=True)
        api.set_flow_run_state(
            flow_run_id, Scheduled(name="AwaitingRetry", message="Retry from the test"), force=True
        )


def task_runs(flow_run_id: UUID) -> list[TaskRun]:
    """Every task run of the flow run (all attempts)."""
    found: list[TaskRun] = []
    with client() as api:
        while True:
            page = api.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=PAGE,
                offset=len(found),
            )
            found += page
            if len(page) < PAGE:
                return found


def finished_tasks(flow_run_id: UUID, prefix: str, count: int) -> list[TaskRun] | None:
    """The task runs named `prefix...` once `count` of them are recorded in a final state."""
    tasks = [t for t in task_runs(flow_run_id) if t.name.startswith(prefix)]
    final = [t for t in tasks if t.state is not None and t.state.is_final()]
    return tasks if len(final) == count else None


def state_of(run: FlowRun | TaskRun) -> str | None:
    """The flow or task run's state type (`COMPLETED`, `CANCELLED`, ...)."""
    return run.state_type.value if run.state_type else None


def wait_polling(seconds: float) -> None:
    """Sleep in short steps (a test's deliberate waiting window)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.2, left))
