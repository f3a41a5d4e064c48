"""Rules the two engines share and must not decide differently: the key of a chain step's
outputs, the wording of a timeout (before and after the run was cancelled) and the
permissions of a downloaded file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from core_fakes import FakeAPI

from cyberdesk_core import CyberdeskClient, Run, RunTimeoutError
from cyberdesk_core.attachments import DOWNLOAD_FILE_MODE
from cyberdesk_core.chain_keys import chain_step_key
from cyberdesk_core.errors import timeout_message

META = "/v1/run-attachments/att-1"
DATA = "/v1/run-attachments/att-1/download"
ATTACHMENT = {
    "id": "att-1",
    "run_id": "run-1",
    "filename": "x.csv",
    "content_type": "text/csv",
    "attachment_type": "output",
    "size_bytes": 3,
}
DEADLINE = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("alias", "index", "key"),
    [("export", 0, "export"), (None, 2, "step_3"), ("", 0, "step_1")],
)
def test_chain_step_key(alias: str | None, index: int, key: str) -> None:
    assert chain_step_key(alias, index) == key


def test_timeout_wording_before_and_after_cancelling() -> None:
    waiting = timeout_message(["r1"], cancelled=False, deadline=DEADLINE, last_status="running")
    assert waiting == (
        "Cyberdesk run r1 did not finish before 2026-12-03T12:00:00+00:00 (last status: "
        "running). The run keeps going remotely; cancel it or wait longer."
    )
    assert timeout_message(["r1", "r2"], cancelled=True) == (
        "Cyberdesk runs r1, r2 did not finish in time and were cancelled."
    )


def test_after_cancel_keeps_the_run_and_drops_the_advice() -> None:
    run = Run.model_validate(
        {"id": "r1", "workflow_id": "w", "status": "running", "created_at": DEADLINE}
    )
    error = RunTimeoutError(
        timeout_message(["r1"], cancelled=False, deadline=DEADLINE, last_status="running"),
        run,
        deadline=DEADLINE,
    )
    cancelled = error.after_cancel()
    assert isinstance(cancelled, RunTimeoutError)
    assert (cancelled.run, cancelled.run_id, cancelled.deadline) == (run, "r1", DEADLINE)
    assert str(cancelled) == (
        "Cyberdesk run r1 did not finish before 2026-12-03T12:00:00+00:00 (last status: "
        "running) and was cancelled."
    )


@pytest.fixture(params=[0o022, 0o077, 0o027], ids=["022", "077", "027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.mark.parametrize("into", ["folder", "file"])
def test_downloaded_file_mode_is_file_mode_minus_umask(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path, umask: int, into: str
) -> None:
    api.queue("GET", META, ATTACHMENT)
    api.queue("GET", DATA, httpx.Response(200, content=b"abc"))
    target = tmp_path / "out.csv" if into == "file" else tmp_path
    result = client.run_attachments.download("att-1", target)
    assert result.path is not None
    assert stat.S_IMODE(result.path.stat().st_mode) == DOWNLOAD_FILE_MODE & ~umask
