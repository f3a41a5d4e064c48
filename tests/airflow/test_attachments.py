"""Attachments: file inputs in, output files streamed to object storage."""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import ObjectStoragePath
from test_run_operator import POLL, new_dag

from cyberdesk_airflow.operators.attachments import (
    CyberdeskDownloadAttachmentsOperator,
    download_attachments,
)
from cyberdesk_airflow.operators.run import CyberdeskRunOperator
from cyberdesk_core import APIConnectionError, CyberdeskClient, DownloadError, RunAttachment


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


# --- Every download goes through the core's safe path API (no partial file, no symlink
# followed, unique names), locally and on remote object storage. ---

MB = 1024 * 1024
LOG = logging.getLogger("test_attachments")
META = {
    "id": "att-1",
    "run_id": "run-1",
    "filename": "report.csv",
    "content_type": "text/csv",
    "attachment_type": "output",
    "size_bytes": 10,
}


def truncated() -> Iterator[bytes]:
    yield b"12345"
    raise httpx.ReadError("connection reset")


def oversized() -> Iterator[bytes]:
    for _ in range(64):
        yield bytes(MB)


def scripted_client(body: Callable[[], Iterator[bytes]]) -> CyberdeskClient:
    """A client whose server advertises 10 bytes and then sends ``body``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/download"):
            return httpx.Response(200, content=body())
        return httpx.Response(200, json=META)

    return CyberdeskClient(
        "k", base_url="https://cyberdesk.test", transport=httpx.MockTransport(handle), max_retries=0
    )


@pytest.fixture
def memory_folder() -> ObjectStoragePath:
    """A folder on fsspec's in-memory file system, standing in for s3:// and the like."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    return ObjectStoragePath(f"memory://bucket-{uuid.uuid4().hex[:8]}/out")


def stored(folder: Any) -> list[str]:
    """Names in ``folder`` (local or remote), hidden ones included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("body", [truncated, oversized])
@pytest.mark.parametrize("kind", ["path", "file-uri", "remote"])
def test_failed_download_leaves_nothing_at_the_destination(
    kind: str, body: Callable[[], Iterator[bytes]], tmp_path: Path, memory_folder: Any
) -> None:
    folder: Any = {
        "path": tmp_path,
        "file-uri": ObjectStoragePath(f"file://{tmp_path}"),
        "remote": memory_folder,
    }[kind]
    attachment = RunAttachment.model_validate(META)
    with scripted_client(body) as client, pytest.raises((DownloadError, APIConnectionError)):
        download_attachments(client, [attachment], str(folder) if kind == "path" else folder, LOG)
    assert stored(folder) == []


@pytest.fixture(scope="module")
def held_run(make_workflow: Any, client: Any) -> Iterator[str]:
    """A run that stays active for the module: files are attached to it by the tests."""
    run = client.runs.create(make_workflow({"duration": 10**6}, "hold"))
    yield run.id
    client.runs.cancel(run.id)


def test_operator_numbers_duplicates_and_never_follows_a_symlink(
    held_run: str, emulator: Any, run_dag: Any, xcom: Any, tmp_path: Path
) -> None:
    for content in (b"one", b"two"):
        emulator.admin.add_attachment(held_run, content, filename="report.csv")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.csv").symlink_to(secret)
    with new_dag("attach_symlink") as dag:
        CyberdeskDownloadAttachmentsOperator(
            task_id="download", run_id=held_run, destination=str(out)
        )
    dr = run_dag(dag)
    assert dr.state == "success"
    assert secret.read_bytes() == b"keep me"
    assert (out / "report.csv").is_symlink()
    written = {(out / n).read_bytes() for n in ("report (2).csv", "report (3).csv")}
    assert written == {b"one", b"two"}
    assert not any((out / n).is_symlink() for n in ("report (2).csv", "report (3).csv"))
    assert sorted(Path(d["path"].removeprefix("file://")).name for d in xcom(dr, "download")) == [
        "report (2).csv",
        "report (3).csv",
    ]
    assert stored(out) == ["report (2).csv", "report (3).csv", "report.csv"]


def test_remote_folder_gets_unique_names_and_no_staging_leftovers(
    held_run: str, emulator: Any, client: Any, memory_folder: Any
) -> None:
    ids = [
        emulator.admin.add_attachment(held_run, body, filename="tb.csv")["id"]
        for body in (b"first", b"second")
    ]
    memory_folder.mkdir(parents=True, exist_ok=True)
    (memory_folder / "tb.csv").write_bytes(b"already there")
    attachments = [client.run_attachments.get(i) for i in ids]
    described = download_attachments(client, attachments, memory_folder, LOG)
    assert [d["path"] for d in described] == [
        str(memory_folder / "tb (2).csv"),
        str(memory_folder / "tb (3).csv"),
    ]
    assert (memory_folder / "tb.csv").read_bytes() == b"already there"
    assert (memory_folder / "tb (2).csv").read_bytes() == b"first"
    assert stored(memory_folder) == ["tb (2).csv", "tb (3).csv", "tb.csv"]


def test_failed_upload_leaves_no_partial_object(
    held_run: str, emulator: Any, client: Any, memory_folder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    attachment_id = emulator.admin.add_attachment(held_run, b"x" * 1000, filename="big.bin")["id"]

    def broken_copy(reader: Any, writer: Any, length: int = 0) -> None:
        writer.write(reader.read(300))
        raise OSError("network lost during upload")

    monkeypatch.setattr(shutil, "copyfileobj", broken_copy)
    attachment = client.run_attachments.get(attachment_id)
    with pytest.raises(OSError, match="network lost"):
        download_attachments(client, [attachment], memory_folder, LOG)
    assert stored(memory_folder) == []
