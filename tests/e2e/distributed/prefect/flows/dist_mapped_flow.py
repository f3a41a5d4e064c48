"""The mapped flow the distributed Prefect tests deploy: one `run_cyberdesk_workflow` per entry
of `workflow_ids`, all mapped from one flow run on a work-pool worker.

Credentials (and sensitive inputs, when given) are named by block, so neither the API key nor
a secret ever becomes a flow or task parameter.
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, unmapped

from cyberdesk_prefect import (
    CyberdeskCredentials,
    CyberdeskRunResult,
    cancel_cyberdesk_runs_on_cancellation,
    run_cyberdesk_workflow,
)


@flow(
    name="dist-mapped-cyberdesk-runs",
    on_cancellation=[cancel_cyberdesk_runs_on_cancellation],
    on_crashed=[cancel_cyberdesk_runs_on_cancellation],
)
def mapped_cyberdesk_runs(
    credentials_block: str,
    workflow_ids: list[str],
    poll_interval: float = 1.0,
    secret_block: str | None = None,
    create_artifact: bool = True,
) -> dict[str, Any]:
    """Run `workflow_ids[i]` with inputs `{"i": i}` for every i, mapped; return ids and statuses."""
    # `load` is sync/async dual (value or coroutine); in a sync flow it returns the block.
    credentials = cast(CyberdeskCredentials, CyberdeskCredentials.load(credentials_block))
    futures = run_cyberdesk_workflow.map(
        unmapped(credentials),
        workflow_ids,
        input_values=[{"i": index} for index in range(len(workflow_ids))],
        sensitive_input_values=unmapped(secret_block),
        poll_interval=unmapped(poll_interval),
        max_poll_interval=unmapped(max(poll_interval, 2.0)),
        create_artifact=unmapped(create_artifact),
    )
    results: list[CyberdeskRunResult] = futures.result()
    return {
        "run_ids": [result.run_id for result in results],
        "statuses": [str(result.status) for result in results],
        "outputs": [result.output_data for result in results],
    }
