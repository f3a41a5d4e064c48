"""What a finished Prefect flow run left on the server: its labels, logs and artifacts."""

from __future__ import annotations

from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Log, State
from prefect.logging.handlers import APILogWorker


def labels_of(state: State[Any]) -> dict[str, Any]:
    """The labels of the flow run that ended in `state`."""
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return dict(client.read_flow_run(flow_run_id).labels)


def artifact_markdown(run_id: str) -> str:
    """The markdown of the artifact recorded for Cyberdesk run `run_id`."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"cyberdesk-run-{run_id}"]))
        )
    assert artifacts, f"no artifact for run {run_id}"
    return str(artifacts[0].data)


def artifact_data(key: str) -> Any:
    """The data of the artifact with `key` (markdown text, or a table's rows as JSON text)."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    assert artifacts, f"no artifact {key}"
    return artifacts[0].data


def flow_run_logs(state: State[Any]) -> list[Log]:
    """Every log of the flow run that ended in `state` (its task runs' too), oldest first.

    Call it outside an event loop (`asyncio.to_thread` from async tests): the queued logs are
    sent first, blocking.
    """
    APILogWorker.drain_all(timeout=10)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return sorted(logs, key=lambda log: log.timestamp)
