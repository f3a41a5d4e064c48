"""What Prefect expects of the integration: the `JobBlock`/`JobRun` contracts, parameter docs.

Generic Prefect code only knows the abstract classes and awaits their methods; deployments
show each task's and flow's `parameter_schema`, whose descriptions come from the `Args:`
sections. Renamed public names keep working and warn.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from prefect import Flow, Task
from prefect.blocks.abstract import JobBlock, JobRun
from prefect.utilities.callables import parameter_schema
from prefect_seed import WF_OK

import cyberdesk_prefect
from cyberdesk_prefect import CyberdeskCredentials, CyberdeskRun, CyberdeskWorkflow


async def run_any_job(block: JobBlock[Any]) -> Any:
    """Generic code: knows `JobBlock`/`JobRun` only, and awaits what Prefect declares async."""
    job_run: JobRun[Any] = await block.trigger()
    await job_run.wait_for_completion()
    return await job_run.fetch_result()


def _our_deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, DeprecationWarning)
        and ("without await" in str(w.message) or "in a future release; use" in str(w.message))
    ]


def _block(credentials: CyberdeskCredentials) -> CyberdeskWorkflow:
    return CyberdeskWorkflow(
        credentials=credentials,
        workflow_id=WF_OK,
        input_values={"month": "2026-04"},
        poll_interval=0.1,
        max_poll_interval=0.3,
        create_artifact=False,
    )


async def test_generic_job_block_code_awaits_trigger_wait_and_fetch(
    credentials: CyberdeskCredentials,
) -> None:
    block = _block(credentials)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await run_any_job(block)
    # The async contract is used as declared: nothing on this path is deprecated.
    assert _our_deprecations(caught) == []
    assert result.status == "success"
    assert result.output_data == {"month": "2026-04", "total": 42}


def test_sync_forms_sit_beside_the_async_methods(credentials: CyberdeskCredentials) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job_run = _block(credentials).trigger_sync()
        waited = job_run.wait_for_completion_sync()
        fetched = job_run.fetch_result_sync()
    assert _our_deprecations(caught) == []
    assert isinstance(job_run, CyberdeskRun)
    assert waited.status == "success"
    assert fetched == waited


def test_calling_the_async_methods_without_await_warns_and_still_works(
    credentials: CyberdeskCredentials,
) -> None:
    # Typed as the sync methods were: the calls below are what code written for them does.
    block: Any = _block(credentials)
    with pytest.warns(DeprecationWarning, match="trigger_sync"):
        job_run = block.trigger()
    assert isinstance(job_run, CyberdeskRun)
    handle: Any = job_run
    with pytest.warns(DeprecationWarning, match="wait_for_completion_sync"):
        result = handle.wait_for_completion()
    assert result.status == "success"
    with pytest.warns(DeprecationWarning, match="fetch_result_sync"):
        assert handle.fetch_result() == result


async def test_earlier_async_method_names_warn_and_delegate(
    credentials: CyberdeskCredentials,
) -> None:
    block = _block(credentials)
    with pytest.warns(DeprecationWarning, match="CyberdeskWorkflow.trigger"):
        job_run = await block.atrigger()
    with pytest.warns(DeprecationWarning, match="CyberdeskRun.wait_for_completion"):
        waited = await job_run.await_for_completion()
    with pytest.warns(DeprecationWarning, match="CyberdeskRun.fetch_result"):
        assert await job_run.afetch_result() == waited


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("await_for_cyberdesk_run", "await_cyberdesk_run"),
        ("await_for_cyberdesk_runs", "await_cyberdesk_runs"),
    ],
)
def test_earlier_async_task_names_warn_and_are_the_same_task(old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=new):
        alias = getattr(cyberdesk_prefect, old)
    assert alias is getattr(cyberdesk_prefect, new)
    assert old not in cyberdesk_prefect.__all__


def _tasks_and_flows() -> list[tuple[str, Task[Any, Any] | Flow[Any, Any]]]:
    found = []
    for name in cyberdesk_prefect.__all__:
        value = getattr(cyberdesk_prefect, name)
        if isinstance(value, (Task, Flow)):
            found.append((name, value))
    return found


def test_every_public_task_and_flow_is_checked() -> None:
    names = {name for name, _ in _tasks_and_flows()}
    assert {"run_cyberdesk_workflow", "arun_cyberdesk_workflow", "await_cyberdesk_run"} <= names
    assert {"run_cyberdesk_workflow_flow", "arun_cyberdesk_workflow_flow"} <= names
    assert len(names) == 24


@pytest.mark.parametrize(("name", "task_or_flow"), _tasks_and_flows())
def test_every_parameter_has_a_description(
    name: str, task_or_flow: Task[Any, Any] | Flow[Any, Any]
) -> None:
    schema = parameter_schema(task_or_flow.fn)
    assert schema.properties
    undescribed = [
        parameter
        for parameter, spec in schema.properties.items()
        if not str(spec.get("description") or "").strip()
    ]
    assert undescribed == [], f"{name}: no description for {undescribed}"
