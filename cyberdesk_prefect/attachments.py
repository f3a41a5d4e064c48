"""Tasks that download a run's attachments to a local folder or a `WritableFileSystem` block.

Local downloads stream straight to disk; a filesystem block receives each file after it was
streamed to a local temporary file (see `cyberdesk_prefect._downloads`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import WritableFileSystem

from cyberdesk_prefect._downloads import AttachmentKind, download_attachments
from cyberdesk_prefect._params import Params, async_form_of
from cyberdesk_prefect._steps import Steps, adrive_steps, drive_steps
from cyberdesk_prefect.credentials import CyberdeskCredentials
from cyberdesk_prefect.observability import get_logger
from cyberdesk_prefect.results import CyberdeskAttachmentInfo


@task(name="Download Cyberdesk attachments", cache_policy=NO_CACHE)
def download_cyberdesk_attachments(
    credentials: CyberdeskCredentials,
    run_id: str,
    destination: str | Path | None = None,
    filesystem: WritableFileSystem | None = None,
    folder: str = "",
    attachment_type: AttachmentKind = "output",
) -> list[CyberdeskAttachmentInfo]:
    """Download the files of a Cyberdesk run to a local folder or a filesystem block.

    Args:
        credentials: The Cyberdesk credentials block.
        run_id: The run whose files to download.
        destination: A local folder (created if missing); files keep their sanitised names.
        filesystem: A `WritableFileSystem` block (e.g. `LocalFileSystem`, `RemoteFileSystem`,
            an S3/GCS/Azure bucket block) to write the files to instead.
        folder: Folder inside `filesystem` to write to.
        attachment_type: `"output"` (files the run exported, the default) or `"input"`.

    Returns:
        One `CyberdeskAttachmentInfo` per file, with `path` set to where it was written.
    """
    return drive_steps(credentials, _download(dict(locals())))


@task(name="Download Cyberdesk attachments", cache_policy=NO_CACHE)
@async_form_of(download_cyberdesk_attachments.fn)
async def adownload_cyberdesk_attachments(params: Params) -> list[CyberdeskAttachmentInfo]:
    """Async form of `download_cyberdesk_attachments` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _download(params))


def _download(params: Params) -> Steps[list[CyberdeskAttachmentInfo]]:
    run_id: str = params["run_id"]
    infos = yield from download_attachments(
        run_id,
        destination=params["destination"],
        filesystem=params["filesystem"],
        folder=params["folder"],
        attachment_type=params["attachment_type"],
    )
    get_logger().info("Downloaded %d file(s) of Cyberdesk run %s.", len(infos), run_id)
    return infos
