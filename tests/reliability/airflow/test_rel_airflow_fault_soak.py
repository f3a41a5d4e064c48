"""Fault soak through Airflow: 100 serialised-and-rebuilt triggers in one event loop (as in a
triggerer) plus a real ``dag.test()`` DAG (deferred, in-worker and mapped tasks), while 20% of
all Cyberdesk requests fail. Every task succeeds with the right output, and the emulator saw
exactly one create per Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest
from rel_airflow_env import ECHO_WORKFLOW, POLL, new_dag
from reliability_support import assert_no_duplicate_creates, fault_share, soak_faults

from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_airflow.triggers import CyberdeskRunTrigger
from cyberdesk_core import CyberdeskClient, RetryPolicy

TRIGGERS = 100


def _rebuild(trigger: CyberdeskRunTrigger) -> Any:
    """What the triggerer does with a trigger row: import the class path, call it with kwargs."""
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


async def _first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("trigger ended without an event")


@pytest.mark.slow
def test_trigger_soak_100_rebuilt_triggers_in_one_loop(emulator: Any, airflow_db: Any) -> None:
    admin = emulator.admin
    admin.reset_stats()
    admin.set_faults(soak_faults(seed=11))
    started = time.monotonic()
    try:
        with CyberdeskClient(
            emulator.api_key,
            base_url=emulator.url,
            retry_policy=RetryPolicy(max_retries=6),
            sleep=lambda s: time.sleep(min(s, 0.02)),
        ) as client:
            runs = [
                client.runs.create(ECHO_WORKFLOW, input_values={"n": n, "tag": f"trig-{n}"})
                for n in range(TRIGGERS)
            ]
        triggers = [
            _rebuild(
                CyberdeskRunTrigger(
                    run_id=run.id,
                    poll_interval=POLL,
                    workflow_id=ECHO_WORKFLOW,
                    created_at=run.created_at.isoformat(),
                )
            )
            for run in runs
        ]

        async def all_events() -> list[dict[str, Any]]:
            return await asyncio.wait_for(
                asyncio.gather(*(_first_event(t) for t in triggers)), timeout=120
            )

        events = asyncio.run(all_events())
        stats = admin.stats()
    finally:
        admin.clear_faults()
    for n, (run, event) in enumerate(zip(runs, events, strict=True)):
        assert event["status"] == "success", (n, event)
        assert event["run_ids"] == [run.id]
        assert event["runs"][0]["output_data"] == {"n": n, "tag": f"TRIG-{n}"}
    assert_no_duplicate_creates(stats, expected_runs=TRIGGERS)
    assert fault_share(stats) >= 0.12, stats["faults_injected"]
    print(f"trigger soak: {TRIGGERS} triggers in {time.monotonic() - started:.1f}s")


@pytest.mark.slow
def test_dag_soak_deferred_worker_and_mapped_tasks(
    emulator: Any, run_dag: Any, xcom: Any, ti_states: Any
) -> None:
    admin = emulator.admin
    with new_dag("soak") as dag:
        for i in range(2):
            CyberdeskRunOperator(
                task_id=f"deferred_{i}",
                workflow_id=ECHO_WORKFLOW,
                input_values={"n": i, "tag": f"deferred-{i}"},
                deferrable=True,
                poll_interval=POLL,
                retries=0,
            )
            CyberdeskRunOperator(
                task_id=f"worker_{i}",
                workflow_id=ECHO_WORKFLOW,
                input_values={"n": i, "tag": f"worker-{i}"},
                deferrable=False,
                poll_interval=POLL,
                retries=0,
            )
        CyberdeskRunOperator.partial(
            task_id="mapped",
            workflow_id=ECHO_WORKFLOW,
            deferrable=True,
            poll_interval=POLL,
            retries=0,
        ).expand(input_values=[{"n": n, "tag": f"mapped-{n}"} for n in range(3)])
    admin.reset_stats()
    admin.set_faults(soak_faults(seed=5))
    try:
        dr = run_dag(dag)
        stats = admin.stats()
    finally:
        admin.clear_faults()
    states = ti_states(dr)
    assert dr.state == "success", states
    # No task needed a retry: transient faults never reached the task.
    assert all(try_number == 1 for _, try_number in states.values()), states
    for i in range(2):
        assert xcom(dr, f"deferred_{i}") == {"n": i, "tag": f"DEFERRED-{i}"}
        assert xcom(dr, f"worker_{i}") == {"n": i, "tag": f"WORKER-{i}"}
    for n in range(3):
        assert xcom(dr, "mapped", map_index=n) == {"n": n, "tag": f"MAPPED-{n}"}
    assert_no_duplicate_creates(stats, expected_runs=7)
    assert sum(stats["faults_injected"].values()) > 0
