"""``pool_ids=[]`` is refused with a message naming the field, before anything is created."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators import (
    CyberdeskBulkRunOperator,
    CyberdeskChainOperator,
    CyberdeskRunOperator,
)
from cyberdesk_core import ConfigurationError

MESSAGE = r"pool_ids is empty: pass at least one id, or leave pool_ids out \(None\)"


def _operators(workflow: str) -> list[Any]:
    return [
        CyberdeskRunOperator(task_id="run", workflow_id=workflow, pool_ids=[]),
        CyberdeskBulkRunOperator(task_id="bulk", workflow_id=workflow, count=2, pool_ids=[]),
        CyberdeskChainOperator(task_id="chain", steps=[{"workflow_id": workflow}], pool_ids=()),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["run", "bulk", "chain"])
def test_empty_pool_ids_raise_before_any_request(
    index: int, ok_workflow: str, emulator: Any
) -> None:
    operator = _operators(ok_workflow)[index]
    ti = SimpleNamespace(
        dag_id="d", run_id="r", task_id=operator.task_id, map_index=-1, try_number=1
    )
    emulator.admin.reset_stats()
    with pytest.raises(ConfigurationError, match=MESSAGE):
        operator.execute({"ti": ti})
    stats = emulator.admin.stats()
    assert stats["runs_created"] == 0
    assert stats["requests_by_route"] == {}


def test_empty_pool_ids_fail_the_task(
    ok_workflow: str, run_dag: Any, ti_states: Any, emulator: Any, printed: Any
) -> None:
    with new_dag("pool_ids_empty") as dag:
        CyberdeskRunOperator(
            task_id="run", workflow_id=ok_workflow, pool_ids="{{ [] }}", poll_interval=POLL
        )
    dag.render_template_as_native_obj = True
    emulator.admin.reset_stats()
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert ti_states(dr)[("run", -1)] == ("failed", 1)
    assert "pool_ids is empty" in printed()
    assert emulator.admin.stats()["runs_created"] == 0
