"""Attachments: file inputs in, output files streamed to object storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.attachments import CyberdeskDownloadAttachmentsOperator
from cyberdesk_airflow.operators.run import CyberdeskRunOperator


@pytest.fixture(scope="module")
def exporting_workflow(make_workflow: Any) -> str:
    workflow_id: str = make_workflow(
        {
            "duration": 20,
            "output": {"rows": 2},
            "files": [
                {"name": "tb_{{ inputs.month }}.csv", "content": "account,amount\n4000,12.5\n"},
                {"name": "summary.txt", "content": "month {{ inputs.month }} done"},
            ],
        },
        "export",
    )
    return workflow_id


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_run_downloads_outputs_and_uploads_inputs(
    deferrable: bool,
    exporting_workflow: str,
    run_dag: Any,
    xcom: Any,
    client: Any,
    tmp_path: Path,
) -> None:
    local = tmp_path / "mapping.csv"
    local.write_text("a,b\n")
    remote = ObjectStoragePath(f"file://{tmp_path}/remote_in.txt")
    remote.write_text("from object storage")
    out = tmp_path / "out"
    with new_dag("attach_run") as dag:
        CyberdeskRunOperator(
            task_id="run",
            workflow_id=exporting_workflow,
            input_values={"month": "2026-05"},
            file_inputs=[str(local), remote, ("raw.bin", b"\x00\x01")],
            download_attachments_to=f"file://{out}",
            deferrable=deferrable,
            poll_interval=POLL,
        )
    dr = run_dag(dag)
    assert dr.state == "success"
    assert xcom(dr, "run") == {"rows": 2}
    described = xcom(dr, "run", "cyberdesk_attachments")
    assert {d["filename"] for d in described} == {"tb_2026-05.csv", "summary.txt"}
    assert (out / "tb_2026-05.csv").read_text() == "account,amount\n4000,12.5\n"
    assert (out / "summary.txt").read_text() == "month 2026-05 done"
    assert all(Path(d["path"].removeprefix("file://")).exists() for d in described)
    run = client.runs.get(xcom(dr, "run", "run_id"))
    inputs = client.run_attachments.list(run_id=run.id, attachment_type="input").items
    assert {a.filename for a in inputs} == {"mapping.csv", "remote_in.txt", "raw.bin"}


def test_download_operator_after_run(
    exporting_workflow: str, run_dag: Any, xcom: Any, tmp_path: Path
) -> None:
    with new_dag("attach_download") as dag:
        run = CyberdeskRunOperator(
            task_id="run",
            workflow_id=exporting_workflow,
            input_values={"month": "2026-06"},
            poll_interval=POLL,
        )
        download = CyberdeskDownloadAttachmentsOperator(
            task_id="download",
            run_id="{{ ti.xcom_pull(task_ids='run', key='run_id') }}",
            destination=str(tmp_path / "{{ ds }}"),
        )
        inputs = CyberdeskDownloadAttachmentsOperator(
            task_id="inputs",
            run_id="{{ ti.xcom_pull(task_ids='run', key='run_id') }}",
            destination=ObjectStoragePath(f"file://{tmp_path}/inputs"),
            attachment_type="input",
        )
        run >> [download, inputs]
    dr = run_dag(dag)
    assert dr.state == "success"
    # Metadata is pushed by the run operator even without a download folder.
    assert len(xcom(dr, "run", "cyberdesk_attachments")) == 2
    files = xcom(dr, "download")
    assert len(files) == 2
    folder = tmp_path / dr.logical_date.strftime("%Y-%m-%d")
    assert (folder / "tb_2026-06.csv").exists()
    assert xcom(dr, "inputs") == []
