"""Download a run's attachments to a local folder or a Prefect `WritableFileSystem` block.

Download safety lives in the core (`cyberdesk_core.attachments`). Local downloads use its path
API: a hidden temporary file, checked against the advertised size, then given a safe name that
is unique in the folder and in the batch (`report.csv`, `report (2).csv`). A `WritableFileSystem`
block only accepts whole `bytes` (`write_path(path, content)`), so each file goes through the
core into a local scratch folder first and is read back once to hand it to the block, under a
name the same core rules made unique (against the batch, and against the block's content where
the block can tell: `LocalFileSystem`, `RemoteFileSystem`); scratch files are always removed.
Each sequence is written once as steps (`_steps`), for the blocking and the asyncio driver.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

import anyio
from prefect.filesystems import LocalFileSystem, RemoteFileSystem, WritableFileSystem
from prefect.utilities.asyncutils import run_coro_as_sync

from cyberdesk_core.attachments import UniqueNames
from cyberdesk_prefect._steps import Step, Steps, call, local
from cyberdesk_prefect.results import CyberdeskAttachmentInfo

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, RunAttachment
    from cyberdesk_core.models import DownloadResult

AttachmentKind = Literal["output", "input"]


def _target_path(folder: str, filename: str) -> str:
    return str(PurePosixPath(folder) / filename) if folder else filename


def _write_sync(filesystem: WritableFileSystem, path: str, content: bytes) -> str:
    written: Any = filesystem.write_path(path, content)
    if inspect.iscoroutine(written):
        written = run_coro_as_sync(written)
    return str(written) if isinstance(written, (str, Path)) else path


async def _write_async(filesystem: WritableFileSystem, path: str, content: bytes) -> str:
    writer = getattr(filesystem, "awrite_path", None)
    written: Any = await writer(path, content) if writer else filesystem.write_path(path, content)
    if inspect.isawaitable(written):
        written = await written
    return str(written) if isinstance(written, (str, Path)) else path


def _block_has(filesystem: WritableFileSystem, path: str) -> bool:
    """Whether the block already holds `path`; False for blocks that cannot tell (their own
    `write_path` rules apply). A symlink counts: `LocalFileSystem` would write through it."""
    if isinstance(filesystem, LocalFileSystem):
        return os.path.lexists(Path(filesystem.basepath or ".").expanduser() / path)
    if isinstance(filesystem, RemoteFileSystem):
        full = f"{filesystem.basepath.rstrip('/')}/{path.lstrip('/')}"
        return bool(filesystem.filesystem.exists(full))
    return False


def _claim(names: UniqueNames, filesystem: WritableFileSystem, folder: str, name: str) -> str:
    return _target_path(
        folder, names.claim(name, lambda n: _block_has(filesystem, _target_path(folder, n)))
    )


def _check_destination(destination: str | Path | None, filesystem: Any) -> None:
    if destination is None and filesystem is None:
        raise ValueError("Pass destination (a local folder) or filesystem (a block) to download.")
    if filesystem is not None and not isinstance(filesystem, WritableFileSystem):
        raise TypeError(
            f"filesystem must be a WritableFileSystem block, got {type(filesystem).__name__}."
        )


def _attachments(run_id: str, kind: AttachmentKind) -> Step[list[RunAttachment]]:
    async def collect(client: AsyncCyberdeskClient) -> list[RunAttachment]:
        return [a async for a in client.run_attachments.iter(run_id=run_id, attachment_type=kind)]

    return call(
        lambda c: list(c.run_attachments.iter(run_id=run_id, attachment_type=kind)), collect
    )


def _download(attachment_id: str, folder: Path, names: UniqueNames | None) -> Step[DownloadResult]:
    return call(
        lambda c: c.run_attachments.download(attachment_id, folder, names=names),
        lambda c: c.run_attachments.download(attachment_id, folder, names=names),
    )


def _make_folder(target: Path) -> Step[None]:
    return local(
        lambda: target.mkdir(parents=True, exist_ok=True),
        lambda: anyio.Path(target).mkdir(parents=True, exist_ok=True),
    )


def _to_block(
    names: UniqueNames, filesystem: WritableFileSystem, folder: str, downloaded: DownloadResult
) -> Step[str]:
    """Claim a unique name in the block and write the downloaded file there."""
    assert downloaded.path is not None
    content = downloaded.path.read_bytes()

    async def write_async() -> str:
        # The existence probe may be network I/O (RemoteFileSystem): off the loop.
        path = await anyio.to_thread.run_sync(
            _claim, names, filesystem, folder, downloaded.filename
        )
        return await _write_async(filesystem, path, content)

    return local(
        lambda: _write_sync(
            filesystem, _claim(names, filesystem, folder, downloaded.filename), content
        ),
        write_async,
    )


def download_attachments(
    run_id: str,
    *,
    destination: str | Path | None = None,
    filesystem: WritableFileSystem | None = None,
    folder: str = "",
    attachment_type: AttachmentKind = "output",
) -> Steps[list[CyberdeskAttachmentInfo]]:
    """Download every attachment of a run; returns metadata with `path` set."""
    _check_destination(destination, filesystem)
    attachments = yield _attachments(run_id, attachment_type)
    infos: list[CyberdeskAttachmentInfo] = []
    names = UniqueNames()
    if filesystem is None:
        target = Path(destination or ".")
        yield _make_folder(target)
        for attachment in attachments:
            downloaded = yield _download(attachment.id, target, names)
            infos.append(_info(attachment, str(downloaded.path)))
        return infos
    with tempfile.TemporaryDirectory(prefix="cyberdesk-") as scratch:
        for attachment in attachments:
            downloaded = yield _download(attachment.id, Path(scratch), None)
            assert downloaded.path is not None
            try:
                written = yield _to_block(names, filesystem, folder, downloaded)
            finally:
                downloaded.path.unlink(missing_ok=True)
            infos.append(_info(attachment, written))
    return infos


def list_attachment_infos(
    run_id: str, attachment_type: AttachmentKind = "output"
) -> Steps[list[CyberdeskAttachmentInfo]]:
    """Metadata of a run's attachments, without downloading them."""
    attachments = yield _attachments(run_id, attachment_type)
    return [_info(a, None) for a in attachments]


def _info(attachment: RunAttachment, path: str | None) -> CyberdeskAttachmentInfo:
    return CyberdeskAttachmentInfo.from_attachment(attachment, path)
