"""The core's re-attach rule through real Prefect retries (task retries and flow-run retries):
a succeeded run is never executed again, a failed one runs again in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from prefect import flow
from prefect.context import FlowRunContext
from prefect_seed import POLL, WF_DOUBLE, WF_FLIP, WF_OK, no_retry_credentials

from cyberdesk_core import ChainStep, RefValue
from cyberdesk_prefect import (
    CyberdeskCredentials,
    bulk_create_cyberdesk_runs,
    run_cyberdesk_chain,
    run_cyberdesk_workflow,
    wait_for_cyberdesk_runs,
)
from cyberdesk_prefect.results import CyberdeskChainResult, CyberdeskRunResult

RETRY_ROUTE = "POST /v1/runs/{run_id}/retry"


class Counts:
    """Emulator counters since the test started."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.before = admin.stats()

    def delta(self, name: str) -> int:
        return int(self.admin.stats()[name] - self.before[name])

    def retries(self) -> int:
        now = self.admin.stats()["requests_by_route"].get(RETRY_ROUTE, 0)
        return int(now - self.before["requests_by_route"].get(RETRY_ROUTE, 0))


def _flow_attempt() -> int:
    context = FlowRunContext.get()
    assert context is not None
    assert context.flow_run is not None
    return int(context.flow_run.run_count)


def test_download_failure_then_task_retry_executes_the_run_once(
    emulator: Any, admin: Any, no_faults: None, tmp_path: Path
) -> None:
    """The acceptance scenario: the run succeeds, its download answers 500, the task's automatic
    retry reuses the run's outputs and downloads again: one execution, no runs.retry."""
    credentials = no_retry_credentials(emulator)
    admin.set_faults(
        {"rules": [{"route": "GET /v1/run-attachments/*/download", "kind": "500", "times": 1}]}
    )
    counts = Counts(admin)
    retried = run_cyberdesk_workflow.with_options(retries=1, retry_delay_seconds=0)
    month = f"m-{uuid4().hex[:6]}"

    @flow
    def month_end() -> CyberdeskRunResult:
        return retried(
            credentials, WF_OK, input_values={"month": month}, download_to=tmp_path, **POLL
        )

    result = month_end()
    assert result.status == "success"
    assert result.output_data == {"month": month, "total": 42}
    assert counts.delta("runs_created") == 1
    assert counts.retries() == 0
    assert (tmp_path / f"tb_{month}.csv").read_text() == "account,amount\n1000,42\n"
    assert [p.name for p in tmp_path.iterdir()] == [f"tb_{month}.csv"]


def test_flow_run_retry_reuses_a_succeeded_run(
    credentials: CyberdeskCredentials, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A flow-run retry gives the task new task-run ids; the key still finds the run, and the
    rule reuses it instead of creating (and executing) it again."""
    counts = Counts(admin)
    value = uuid4().int % 10_000

    @flow(retries=1, retry_delay_seconds=0)
    def post_then_fail() -> CyberdeskRunResult:
        result = run_cyberdesk_workflow(
            credentials, WF_DOUBLE, input_values={"value": value}, **POLL
        )
        if _flow_attempt() == 1:
            raise RuntimeError("the step after the journal failed")
        return result

    with caplog.at_level("INFO"):
        result = post_then_fail()
    assert result.status == "success"
    assert result.output_data == {"value": value}
    assert counts.delta("runs_created") == 1
    assert counts.retries() == 0
    assert f"Reusing Cyberdesk run {result.run_id} from an earlier try" in caplog.text


def test_flow_run_retry_reruns_a_failed_run_in_place(
    credentials: CyberdeskCredentials, admin: Any, restore_behaviors: None
) -> None:
    admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "outcome": "error"})
    counts = Counts(admin)

    @flow(retries=1, retry_delay_seconds=0)
    def flip() -> CyberdeskRunResult:
        if _flow_attempt() == 2:  # the problem got fixed between the attempts
            admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "output": {"fixed": True}})
        return run_cyberdesk_workflow(credentials, WF_FLIP, **POLL)

    result = flip()
    assert result.output_data == {"fixed": True}
    assert counts.delta("runs_created") == 1
    assert counts.retries() == 1


def test_rerun_succeeded_executes_a_succeeded_run_again(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    counts = Counts(admin)
    value = uuid4().int % 10_000

    @flow(retries=1, retry_delay_seconds=0)
    def again() -> CyberdeskRunResult:
        result = run_cyberdesk_workflow(
            credentials, WF_DOUBLE, input_values={"value": value}, rerun_succeeded=True, **POLL
        )
        if _flow_attempt() == 1:
            raise RuntimeError("fail after the run")
        return result

    assert again().status == "success"
    assert counts.delta("runs_created") == 1
    assert counts.retries() == 1


def test_a_new_flow_run_executes_again(credentials: CyberdeskCredentials, admin: Any) -> None:
    """The deliberate "run it again" in Prefect is a new flow run: a new key, a new run."""
    counts = Counts(admin)
    value = uuid4().int % 10_000

    @flow
    def once() -> CyberdeskRunResult:
        return run_cyberdesk_workflow(credentials, WF_DOUBLE, input_values={"value": value}, **POLL)

    once()
    once()
    assert counts.delta("runs_created") == 2


def test_identical_calls_in_one_flow_run_stay_distinct_across_a_retry(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    """Two calls with the same parameters are two runs, on the first attempt and after a retry."""
    counts = Counts(admin)
    value = uuid4().int % 10_000

    @flow(retries=1, retry_delay_seconds=0)
    def twice() -> list[str]:
        first = run_cyberdesk_workflow(
            credentials, WF_DOUBLE, input_values={"value": value}, **POLL
        )
        second = run_cyberdesk_workflow(
            credentials, WF_DOUBLE, input_values={"value": value}, **POLL
        )
        if _flow_attempt() == 1:
            raise RuntimeError("fail after both runs")
        return [first.run_id, second.run_id]

    ids = twice()
    assert len(set(ids)) == 2
    assert counts.delta("runs_created") == 2
    assert counts.retries() == 0


def test_chain_retry_resumes_from_the_failed_step(
    credentials: CyberdeskCredentials, admin: Any, restore_behaviors: None
) -> None:
    """Step 1 succeeded, step 2 failed: the retry runs step 2 again in place with its `$ref` to
    step 1 replaced by step 1's output; step 1 is not executed again."""
    admin.set_workflow_behavior(WF_FLIP, {"duration": 1, "outcome": "task_failed"})

    def fix(task: Any, task_run: Any, state: Any) -> bool:
        admin.set_workflow_behavior(
            WF_FLIP, {"duration": 1, "output": {"posted": "{{ inputs.amount }}"}}
        )
        return True

    counts = Counts(admin)
    value = uuid4().int % 10_000
    retried = run_cyberdesk_chain.with_options(
        retries=1, retry_delay_seconds=0, retry_condition_fn=fix
    )

    @flow
    def chain() -> CyberdeskChainResult:
        return retried(
            credentials,
            [
                ChainStep(WF_DOUBLE, session_alias="extract", inputs={"value": value}),
                ChainStep(
                    WF_FLIP,
                    session_alias="post",
                    inputs={"amount": RefValue("extract.outputs.value")},
                ),
            ],
            poll_interval=POLL["poll_interval"],
        )

    result = chain()
    assert result.outputs == {"extract": {"value": value}, "post": {"posted": value}}
    assert counts.delta("runs_created") == 2
    assert counts.retries() == 1


def test_bulk_after_a_flow_run_retry_reuses_succeeded_runs(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    counts = Counts(admin)
    value = uuid4().int % 10_000

    @flow(retries=1, retry_delay_seconds=0)
    def batch() -> list[Any]:
        created = bulk_create_cyberdesk_runs(
            credentials, WF_DOUBLE, 4, input_values={"value": value}
        )
        results = wait_for_cyberdesk_runs(credentials, created, poll_interval=POLL["poll_interval"])
        if _flow_attempt() == 1:
            raise RuntimeError("fail after the batch")
        return list(results)

    results = batch()
    assert [r.status for r in results] == ["success"] * 4
    assert counts.delta("runs_created") == 4
    assert counts.retries() == 0


def test_job_block_in_a_task_reuses_a_succeeded_run_on_a_flow_retry(
    credentials: CyberdeskCredentials, admin: Any
) -> None:
    """`CyberdeskWorkflow.run()` inside a task takes the same path (`_run_steps.create_run`)."""
    from prefect import task

    from cyberdesk_prefect import CyberdeskWorkflow

    counts = Counts(admin)
    value = uuid4().int % 10_000
    block = CyberdeskWorkflow(
        credentials=credentials,
        workflow_id=WF_DOUBLE,
        input_values={"value": value},
        poll_interval=0.1,
    )

    @task
    def post() -> CyberdeskRunResult:
        return block.run()

    @flow(retries=1, retry_delay_seconds=0)
    def month_end() -> CyberdeskRunResult:
        result = post()
        if _flow_attempt() == 1:
            raise RuntimeError("fail after the block's run")
        return result

    assert month_end().output_data == {"value": value}
    assert counts.delta("runs_created") == 1
    assert counts.retries() == 0
