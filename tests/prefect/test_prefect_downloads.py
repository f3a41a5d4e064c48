"""Attachment downloads get the core's safe, unique names: locally and in filesystem blocks.

Files are attached to a held run through the emulator's admin API, so the server really sends
duplicate, long and colliding names over loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.filesystems import LocalFileSystem
from prefect_seed import WF_SLOW

from cyberdesk_prefect import (
    CyberdeskCredentials,
    adownload_cyberdesk_attachments,
    download_cyberdesk_attachments,
)

LONG = "\u00e9" * 250 + ".csv"  # 504 UTF-8 bytes


@pytest.fixture
def held_run(core_client: Any) -> Iterator[str]:
    """An active run of the test's own, to attach files to."""
    run = core_client.runs.create(WF_SLOW)
    yield run.id
    core_client.runs.cancel(run.id)


def attach(admin: Any, run_id: str, *files: tuple[str, bytes]) -> None:
    for filename, content in files:
        admin.add_attachment(run_id, content, filename=filename)


def test_two_report_csv_files_are_both_kept(
    credentials: CyberdeskCredentials, admin: Any, held_run: str, download_dir: Path
) -> None:
    attach(admin, held_run, ("report.csv", b"one"), ("report.csv", b"two"))
    infos = download_cyberdesk_attachments.fn(credentials, held_run, download_dir)
    paths = [Path(str(i.path)) for i in infos]
    assert sorted(p.read_bytes() for p in paths) == [b"one", b"two"]
    assert sorted(p.name for p in paths) == ["report (2).csv", "report.csv"]
    assert all(p.parent == download_dir for p in paths)
    assert len(list(download_dir.iterdir())) == 2


async def test_async_two_report_csv_files_are_both_kept(
    credentials: CyberdeskCredentials, admin: Any, held_run: str, download_dir: Path
) -> None:
    attach(admin, held_run, ("report.csv", b"one"), ("report.csv", b"two"))
    (download_dir / "report.csv").write_bytes(b"yesterday")
    infos = await adownload_cyberdesk_attachments.fn(credentials, held_run, download_dir)
    assert sorted(Path(str(i.path)).name for i in infos) == [
        "report (2).csv",
        "report (3).csv",
    ]
    assert (download_dir / "report.csv").read_bytes() == b"yesterday"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_filesystem_block_gets_the_same_unique_names(
    mode: str, credentials: CyberdeskCredentials, admin: Any, held_run: str, tmp_path: Path
) -> None:
    attach(admin, held_run, ("report.csv", b"one"), ("report.csv", b"two"))
    monthly = tmp_path / "store" / "monthly"
    monthly.mkdir(parents=True)
    (monthly / "report.csv").write_bytes(b"yesterday")
    secret = tmp_path / "store" / "secret.txt"
    secret.write_bytes(b"keep me")
    (monthly / "report (2).csv").symlink_to(secret)
    block = LocalFileSystem(basepath=str(tmp_path / "store"))
    kwargs: dict[str, Any] = {"filesystem": block, "folder": "monthly"}
    if mode == "sync":
        infos = download_cyberdesk_attachments.fn(credentials, held_run, **kwargs)
    else:
        infos = await adownload_cyberdesk_attachments.fn(credentials, held_run, **kwargs)
    written = {Path(str(i.path)) for i in infos}
    assert written == {monthly / "report (3).csv", monthly / "report (4).csv"}
    assert sorted(p.read_bytes() for p in written) == [b"one", b"two"]
    assert (monthly / "report.csv").read_bytes() == b"yesterday"
    assert secret.read_bytes() == b"keep me"


def test_long_names_reach_a_filesystem_block(
    credentials: CyberdeskCredentials, admin: Any, held_run: str, tmp_path: Path
) -> None:
    attach(admin, held_run, (LONG, b"long"))
    block = LocalFileSystem(basepath=str(tmp_path / "store"))
    infos = download_cyberdesk_attachments.fn(credentials, held_run, filesystem=block)
    written = Path(str(infos[0].path))
    assert written.parent == tmp_path / "store"
    assert written.name.endswith(".csv")
    assert len(written.name.encode()) <= 200
    assert written.read_bytes() == b"long"
