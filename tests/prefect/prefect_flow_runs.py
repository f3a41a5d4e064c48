"""What a finished Prefect flow run left on the server: its labels and its run artifacts."""

from __future__ import annotations

from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import State


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
