"""What the Airflow provider shares with the Prefect integration, decided once in the core:
the download result's ``path`` and file permissions, the key of an unaliased chain step, and
the wording of a timeout after which the run was cancelled."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.attachments import download_attachments, list_attachments
from cyberdesk_airflow.operators.chain import CyberdeskChainOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator

LOG = logging.getLogger("test_same_behaviour")


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def held_run(make_workflow: Any, client: Any) -> Iterator[str]:
    """A run that stays active for the module: files are attached to it by the tests."""
    run = client.runs.create(make_workflow({"duration": 10**6}, "hold-same"))
    yield run.id
    client.runs.cancel(run.id)


@pytest.mark.usefixtures("umask_027")
@pytest.mark.parametrize("kind", ["path", "file-uri"])
def test_download_result_has_path_and_umask_permissions(
    kind: str, held_run: str, emulator: Any, client: Any, tmp_path: Path
) -> None:
    emulator.admin.add_attachment(held_run, b"a,b\n", filename=f"perm-{kind}.csv")
    folder = str(tmp_path) if kind == "path" else f"file://{tmp_path}"
    wanted = [a for a in list_attachments(client, held_run, "output") if kind in a.filename]
    (described,) = download_attachments(client, wanted, folder, LOG)
    assert described["path"] == f"file://{tmp_path}/perm-{kind}.csv"
    written = Path(described["path"].removeprefix("file://"))
    assert stat.S_IMODE(written.stat().st_mode) == 0o640  # 0o666 minus the umask 027


def test_unaliased_chain_step_is_keyed_by_its_position(
    make_workflow: Any, run_dag: Any, xcom: Any
) -> None:
    first = make_workflow({"duration": 20, "output": {"total": 1}}, "same-first")
    second = make_workflow({"duration": 20, "output": {"total": 2}}, "same-second")
    with new_dag("chain_unaliased") as dag:
        CyberdeskChainOperator(
            task_id="chain",
            steps=[{"workflow_id": first, "session_alias": "first"}, {"workflow_id": second}],
            deferrable=False,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success"
    assert xcom(dr, "chain") == {"first": {"total": 1}, "step_2": {"total": 2}}


def test_timeout_message_says_the_run_was_cancelled(
    make_workflow: Any, run_dag: Any, xcom: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    slow = make_workflow({"duration": 10_000, "outcome": "success"}, "same-slow")
    with new_dag("run_timeout_wording") as dag:
        CyberdeskRunOperator(
            task_id="run", workflow_id=slow, deferrable=False, poll_interval=POLL, timeout=1.0
        )
    dr = run_dag(dag)
    assert dr.state == "failed"
    run_id = xcom(dr, "run", "run_id")
    captured = capfd.readouterr()
    logs = captured.out + captured.err  # dag.test() prints the task's failure
    assert f"Cyberdesk run {run_id} did not finish in time and was cancelled." in logs
    assert "cancel it or wait longer" not in logs
