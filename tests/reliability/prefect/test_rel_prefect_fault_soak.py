"""Fault soak through Prefect: a flow maps ``run_cyberdesk_workflow`` over 50 inputs and an async
flow gathers 30 ``arun_cyberdesk_workflow`` tasks, while 20% of Cyberdesk requests fail. Every
task succeeds with the right output and the emulator created one run per Idempotency-Key.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rel_prefect_env import ECHO_WORKFLOW, POLL
from reliability_support import assert_no_duplicate_creates, fault_share, soak_faults

SYNC_RUNS = 50
ASYNC_RUNS = 30


@pytest.mark.slow
def test_prefect_soak_mapped_and_async_tasks(credentials: Any, admin: Any) -> None:
    from prefect import flow, unmapped
    from prefect.task_runners import ThreadPoolTaskRunner

    from cyberdesk_prefect import arun_cyberdesk_workflow, run_cyberdesk_workflow

    # Prefect types `task_runner` as `TaskRunner[PrefectFuture[Any]]`, which no instance of the
    # invariant generic `ThreadPoolTaskRunner[R]` matches; an instance is what Prefect documents.
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=16))  # type: ignore[arg-type]
    def mapped_soak() -> list[Any]:
        futures = run_cyberdesk_workflow.map(
            unmapped(credentials),
            ECHO_WORKFLOW,
            input_values=[{"n": n, "tag": f"sync-{n}"} for n in range(SYNC_RUNS)],
            create_artifact=False,
            poll_interval=unmapped(POLL["poll_interval"]),
            max_poll_interval=unmapped(POLL["max_poll_interval"]),
        )
        return [future.result() for future in futures]

    @flow
    async def async_soak() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    arun_cyberdesk_workflow(
                        credentials,
                        ECHO_WORKFLOW,
                        input_values={"n": n, "tag": f"async-{n}"},
                        create_artifact=False,
                        **POLL,
                    )
                    for n in range(ASYNC_RUNS)
                )
            )
        )

    admin.set_faults(soak_faults(seed=3))
    sync_results = mapped_soak()
    async_results = asyncio.run(async_soak())
    stats = admin.stats()
    admin.clear_faults()

    for path, results in (("sync", sync_results), ("async", async_results)):
        for n, result in enumerate(results):
            assert result.status == "success", (path, n, result)
            assert result.output_data == {"n": n, "tag": f"{path}-{n}".upper()}
    assert_no_duplicate_creates(stats, expected_runs=SYNC_RUNS + ASYNC_RUNS)
    assert fault_share(stats) >= 0.12, stats["faults_injected"]
