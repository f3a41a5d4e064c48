"""Tasks for a run's attachments: download them, or get signed URLs that download them.

Local downloads stream straight to disk; a filesystem block receives each file after it was
streamed to a local temporary file (see `cyberdesk_prefect._downloads`). Signed URLs come from
the core (`cyberdesk_core.signed_urls`); the task logs what it signed, never the URL.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import WritableFileSystem

from cyberdesk_core.signed_urls import (
    DEFAULT_EXPIRES_IN,
    SignedAttachmentUrl,
    asign_attachment,
    asign_run_attachments,
    check_expires_in,
    check_selection,
    sign_attachment,
    sign_run_attachments,
)
from cyberdesk_prefect._downloads import AttachmentKind, download_attachments
from cyberdesk_prefect._params import Params, async_form_of
from cyberdesk_prefect._steps import Steps, adrive_steps, call, drive_steps
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


@task(name="Get Cyberdesk attachment URL", cache_policy=NO_CACHE)
def get_cyberdesk_attachment_url(
    credentials: CyberdeskCredentials,
    attachment_id: str | None = None,
    run_id: str | None = None,
    filename: str | None = None,
    attachment_type: AttachmentKind | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
) -> SignedAttachmentUrl | list[SignedAttachmentUrl]:
    """Get signed URLs that download a run's files without the API key.

    A signed URL is a bearer link: anyone who holds it can download the file until it expires.
    The task log names the attachment, its file name and the expiry, never the URL; the task's
    result carries the URL (that is what the task is for), so it is stored wherever the flow
    persists task results. Keep `expires_in` short.

    Args:
        credentials: The Cyberdesk credentials block.
        attachment_id: One attachment to sign. Pass this or `run_id`.
        run_id: Sign the attachments of this run. Pass this or `attachment_id`.
        filename: With `run_id`: only files of this name; shell-style wildcards such as `*.csv`
            match too. Nothing matching raises `AttachmentNotFoundError`, naming the run's files.
        attachment_type: With `run_id`: `"output"`, `"input"`, or None (default) for both.
        expires_in: Seconds each URL stays valid, 10..3600 (default 300). A value outside that
            range raises `ConfigurationError` before any request is sent.

    Returns:
        A `SignedAttachmentUrl` (`url`, `expires_in`, `expires_at`, `attachment_id`, `run_id`,
        `filename`, `attachment_type`) for `attachment_id`; a list of them, one per matching
        file, for `run_id`.
    """
    return drive_steps(credentials, _sign(dict(locals())))


@task(name="Get Cyberdesk attachment URL", cache_policy=NO_CACHE)
@async_form_of(get_cyberdesk_attachment_url.fn)
async def aget_cyberdesk_attachment_url(
    params: Params,
) -> SignedAttachmentUrl | list[SignedAttachmentUrl]:
    """Async form of `get_cyberdesk_attachment_url` (same parameters and result)."""
    return await adrive_steps(params["credentials"], _sign(params))


def _sign(params: Params) -> Steps[SignedAttachmentUrl | list[SignedAttachmentUrl]]:
    attachment_id: str | None = params["attachment_id"]
    run_id: str | None = params["run_id"]
    filename: str | None = params["filename"]
    kind: str | None = params["attachment_type"]
    expires_in: int = params["expires_in"]
    check_expires_in(expires_in)  # before any client is opened: nothing is sent on error
    check_selection(attachment_id, run_id, filename, kind)
    if attachment_id is not None:
        signed: SignedAttachmentUrl = yield call(
            lambda c: sign_attachment(c, attachment_id, expires_in=expires_in),
            lambda c: asign_attachment(c, attachment_id, expires_in=expires_in),
        )
        _log_signed([signed])
        return signed
    assert run_id is not None
    urls: list[SignedAttachmentUrl] = yield call(
        lambda c: sign_run_attachments(
            c, run_id, filename=filename, attachment_type=kind, expires_in=expires_in
        ),
        lambda c: asign_run_attachments(
            c, run_id, filename=filename, attachment_type=kind, expires_in=expires_in
        ),
    )
    if not urls:
        get_logger().info("Cyberdesk run %s has no attachments to sign.", run_id)
    _log_signed(urls)
    return urls


def _log_signed(urls: list[SignedAttachmentUrl]) -> None:
    for signed in urls:
        get_logger().info(
            "Signed a download URL for attachment %s (%s), valid %d s until %s.",
            signed.attachment_id,
            signed.filename,
            signed.expires_in,
            signed.expires_at.isoformat() if signed.expires_at else "unknown",
        )
