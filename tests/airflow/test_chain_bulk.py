"""CyberdeskChainOperator and CyberdeskBulkRunOperator."""

from __future__ import annotations

from typing import Any

import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.bulk import CyberdeskBulkRunOperator
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator


@pytest.fixture(scope="module")
def chain_workflows(make_workflow: Any) -> dict[str, str]:
    return {
        "extract": make_workflow(
            {"duration": 20, "output": {"total": 42, "month": "{{ inputs.month }}"}}, "extract"
        ),
        "report": make_workflow(
            {
                "duration": 20,
                "output": {"amount": "{{ inputs.amount }}", "month": "{{ inputs.month }}"},
            },
            "report",
        ),
        "broken": make_workflow(
            {"duration": 20, "outcome": "error", "error_message": "report crashed"}, "broken"
        ),
    }


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_chain_with_refs_returns_outputs_by_alias(
    deferrable: bool, chain_workflows: dict[str, str], run_dag: Any, xcom: Any, client: Any
) -> None:
    with new_dag("chain_ok") as dag:
        CyberdeskChainOperator(
            task_id="chain",
            steps=[
                {"workflow_id": chain_workflows["extract"], "session_alias": "extract"},
                {
                    "workflow_id": chain_workflows["report"],
                    "session_alias": "report",
                    "inputs": {"amount": {"$ref": "extract.outputs.total"}},
                },
            ],
            shared_inputs={"month": "{{ '2026-04' }}"},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success"
    result = xcom(dr, "chain")
    assert result["extract"] == {"total": 42, "month": "2026-04"}
    assert str(result["report"]["amount"]) == "42"
    run_ids = xcom(dr, "chain", "run_ids")
    assert len(run_ids) == 2
    session = xcom(dr, "chain", "session_id")
    assert {client.runs.get(r).session_id for r in run_ids} == {session}


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_chain_fails_naming_the_step(
    deferrable: bool, chain_workflows: dict[str, str], run_dag: Any, printed: Any
) -> None:
    with new_dag("chain_fail") as dag:
        CyberdeskChainOperator(
            task_id="chain",
            steps=[
                {"workflow_id": chain_workflows["extract"], "session_alias": "extract"},
                {"workflow_id": chain_workflows["broken"], "session_alias": "publish"},
            ],
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    output = printed()
    assert dr.state == "failed"
    assert "chain step 'publish'" in output
    assert "report crashed" in output


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_bulk_of_100(
    deferrable: bool, make_workflow: Any, run_dag: Any, xcom: Any, emulator: Any
) -> None:
    workflow = make_workflow({"duration": [10, 50], "output": {"n": "{{ inputs.batch }}"}})
    with new_dag("bulk_100") as dag:
        CyberdeskBulkRunOperator(
            task_id="bulk",
            workflow_id=workflow,
            count=100,
            input_values={"batch": "b1"},
            deferrable=deferrable,
            poll_interval=POLL,
        )
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "success"
    summary = xcom(dr, "bulk")
    assert summary["total"] == 100
    assert summary["counts"] == {"success": 100}
    assert len(summary["run_ids"]) == 100
    assert all(out == {"n": "b1"} for out in summary["outputs"].values())
    routes = emulator.admin.stats()["requests_by_route"]
    # Shared polling: list calls for the batch, not one GET per run per tick.
    assert routes.get("GET /v1/runs", 0) >= 1
    assert routes.get("GET /v1/runs/{run_id}", 0) <= 100 + 10


@pytest.mark.parametrize(
    ("fail_on", "state"), [("any", "failed"), ("all", "success"), ("never", "success")]
)
def test_bulk_fail_on(
    fail_on: str, state: str, make_workflow: Any, run_dag: Any, xcom: Any
) -> None:
    workflow = make_workflow({"duration": 20, "outcome": {"success": 0.5, "error": 0.5}})
    with new_dag(f"bulk_fail_{fail_on}") as dag:
        CyberdeskBulkRunOperator(
            task_id="bulk", workflow_id=workflow, count=20, fail_on=fail_on, poll_interval=POLL
        )
    dr = run_dag(dag)
    assert dr.state == state
    if state == "success":
        counts = xcom(dr, "bulk")["counts"]
        assert sum(counts.values()) == 20


def test_bulk_fail_on_all_when_every_run_fails(make_workflow: Any, run_dag: Any) -> None:
    workflow = make_workflow({"duration": 20, "outcome": "task_failed"})
    with new_dag("bulk_all_failed") as dag:
        CyberdeskBulkRunOperator(
            task_id="bulk", workflow_id=workflow, count=5, fail_on="all", poll_interval=POLL
        )
    assert run_dag(dag).state == "failed"


def test_bulk_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError, match="fail_on"):
        CyberdeskBulkRunOperator(task_id="b", workflow_id="w", count=1, fail_on="some")
