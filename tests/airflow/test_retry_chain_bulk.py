"""The core's re-attach rule in the chain and bulk operators: a retry never executes a succeeded
run again; failed runs (a chain from its first failed step) run again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from retry_helpers import fails_after_runs_ended, fixed_before_retry, retries
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator

ChainFailsAfterRunsEnded = fails_after_runs_ended(CyberdeskChainOperator)
BulkFailsAfterRunsEnded = fails_after_runs_ended(CyberdeskBulkRunOperator)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_chain_retry_reuses_a_chain_whose_steps_all_succeeded(
    deferrable: bool, make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any
) -> None:
    extract = make_workflow({"duration": 20, "output": {"total": 7}}, "extract")
    post = make_workflow({"duration": 20, "output": {"posted": "{{ inputs.amount }}"}}, "post")
    with new_dag("chain_reuse") as dag:
        ChainFailsAfterRunsEnded(
            task_id="chain",
            steps=[
                {"workflow_id": extract, "session_alias": "extract"},
                {
                    "workflow_id": post,
                    "session_alias": "post",
                    "inputs": {"amount": {"$ref": "extract.outputs.total"}},
                },
            ],
            deferrable=deferrable,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    stats = emulator.admin.stats()
    assert stats["runs_created"] == 2
    assert retries(emulator) == 0
    assert xcom(dr, "chain") == {"extract": {"total": 7}, "post": {"posted": 7}}


def test_chain_retry_resumes_from_the_first_failed_step(
    make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any, client: Any
) -> None:
    """Steps 1 and 2 succeeded, step 3 failed: the retry runs step 3 again in place (same run id,
    a new session), with its `$ref` to step 1 replaced by step 1's output, and never executes
    steps 1 and 2 again."""
    extract = make_workflow({"duration": 20, "output": {"total": 11}}, "extract")
    transform = make_workflow({"duration": 20, "output": {"rows": 3}}, "transform")
    post = make_workflow({"duration": 20, "outcome": "task_failed"}, "post")
    FixedBeforeRetry = fixed_before_retry(
        CyberdeskChainOperator,
        client,
        post,
        {"duration": 20, "output": {"posted": "{{ inputs.amount }}"}},
    )

    with new_dag("chain_resume") as dag:
        FixedBeforeRetry(
            task_id="chain",
            steps=[
                {"workflow_id": extract, "session_alias": "extract"},
                {"workflow_id": transform, "session_alias": "transform"},
                {
                    "workflow_id": post,
                    "session_alias": "post",
                    "inputs": {"amount": {"$ref": "extract.outputs.total"}},
                },
            ],
            deferrable=True,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    assert xcom(dr, "chain") == {
        "extract": {"total": 11},
        "transform": {"rows": 3},
        "post": {"posted": 11},
    }
    assert emulator.admin.stats()["runs_created"] == 3
    assert retries(emulator) == 1  # step 3 only
    run_ids = xcom(dr, "chain", "run_ids")
    assert [client.runs.list(workflow_id=w).items[0].id for w in (extract, transform, post)] == (
        run_ids
    )
    step_3 = client.runs.get(run_ids[2])
    assert step_3.input_values == {"amount": 11}
    assert step_3.session_id != client.runs.get(run_ids[0]).session_id


def test_bulk_retry_reuses_succeeded_runs(
    make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any
) -> None:
    workflow = make_workflow({"duration": 20, "output": {"ok": True}})
    with new_dag("bulk_reuse") as dag:
        BulkFailsAfterRunsEnded(
            task_id="bulk",
            workflow_id=workflow,
            count=5,
            deferrable=True,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    assert emulator.admin.stats()["runs_created"] == 5
    assert retries(emulator) == 0
    assert xcom(dr, "bulk")["counts"] == {"success": 5}


def test_bulk_retry_reruns_failed_runs_in_place(
    make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any, client: Any
) -> None:
    workflow = make_workflow({"duration": 20, "outcome": "error"})
    FixedBeforeRetry = fixed_before_retry(
        CyberdeskBulkRunOperator, client, workflow, {"duration": 20, "output": {"ok": True}}
    )

    with new_dag("bulk_rerun") as dag:
        FixedBeforeRetry(
            task_id="bulk",
            workflow_id=workflow,
            count=3,
            deferrable=False,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    assert emulator.admin.stats()["runs_created"] == 3
    assert retries(emulator) == 3
    assert xcom(dr, "bulk")["counts"] == {"success": 3}


def test_chain_retry_reruns_a_tail_whose_steps_ref_each_other(
    make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any, client: Any
) -> None:
    """Step 2 of 3 failed: steps 2 and 3 run again in one new session, in order; step 3's ref to
    step 2 resolves against step 2's new execution and its ref to step 1 against step 1's
    outputs (step 1 is not executed again)."""
    extract = make_workflow({"duration": 20, "output": {"total": 5}}, "extract")
    transform = make_workflow({"duration": 20, "outcome": "error"}, "transform")
    post = make_workflow(
        {"duration": 20, "output": {"rows": "{{ inputs.rows }}", "total": "{{ inputs.total }}"}},
        "post",
    )
    FixedBeforeRetry = fixed_before_retry(
        CyberdeskChainOperator, client, transform, {"duration": 20, "output": {"rows": 9}}
    )

    with new_dag("chain_tail") as dag:
        FixedBeforeRetry(
            task_id="chain",
            steps=[
                {"workflow_id": extract, "session_alias": "extract"},
                {"workflow_id": transform, "session_alias": "transform"},
                {
                    "workflow_id": post,
                    "session_alias": "post",
                    "inputs": {
                        "rows": {"$ref": "transform.outputs.rows"},
                        "total": {"$ref": "extract.outputs.total"},
                    },
                },
            ],
            deferrable=False,
            poll_interval=POLL,
            retries=1,
            retry_delay=timedelta(0),
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    assert xcom(dr, "chain") == {
        "extract": {"total": 5},
        "transform": {"rows": 9},
        "post": {"rows": 9, "total": 5},
    }
    assert emulator.admin.stats()["runs_created"] == 3
    assert retries(emulator) == 2
    run_ids = xcom(dr, "chain", "run_ids")
    sessions = [client.runs.get(run_id).session_id for run_id in run_ids]
    assert sessions[1] == sessions[2] != sessions[0]
