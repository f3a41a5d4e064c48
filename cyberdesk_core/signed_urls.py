"""Signed download URLs for one attachment, or for the attachments of a run that match a name.

A signed URL (`GET /v1/run-attachments/{id}/download-url`) downloads the file without the API key
until it expires (`expires_in`, 10..3600 seconds, default 300): it is a bearer link, so whoever
holds it can fetch the file. Nothing here logs it; the engines log the attachment id, name and
expiry, and hand the URL only to the caller that asked for it (XCom, a Prefect task result).

The lookup (the attachment's metadata, or the run's attachments page by page, then one URL per
selected file) is written once as request steps (`_steps`), sent by the blocking or the asyncio
client. `expires_in` and the selection are checked before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from cyberdesk_core import _resource_endpoints as resource_endpoints
from cyberdesk_core._paging import next_skip
from cyberdesk_core._request import check_expires_in
from cyberdesk_core._steps import Steps, asend_steps, send_steps
from cyberdesk_core.errors import AttachmentNotFoundError, ConfigurationError
from cyberdesk_core.models import DownloadUrl, Page, RunAttachment

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "SignedAttachmentUrl",
    "asign_attachment",
    "asign_run_attachments",
    "check_expires_in",
    "check_selection",
    "sign_attachment",
    "sign_run_attachments",
]

#: The API's default lifetime of an attachment's signed URL, in seconds.
DEFAULT_EXPIRES_IN = 300

_PAGE_SIZE = 1000
_KINDS = ("input", "output")


class SignedAttachmentUrl(BaseModel):
    """A time-limited URL that downloads one attachment without the API key.

    The URL is a bearer link: anyone who has it can download the file until `expires_at`. It is
    left out of this object's repr so that logging the object does not leak it.
    """

    model_config = ConfigDict(frozen=True)

    attachment_id: str = Field(description="Attachment id.")
    run_id: str = Field(description="Run the attachment belongs to.")
    filename: str = Field(description="File name as stored by Cyberdesk.")
    attachment_type: str = Field(description="`input` or `output`.")
    url: str = Field(repr=False, description="Signed URL; downloads without the API key.")
    expires_in: int = Field(description="Seconds the URL stays valid from when it was made.")
    expires_at: datetime | None = Field(default=None, description="When the URL expires (UTC).")


def check_selection(
    attachment_id: str | None,
    run_id: str | None,
    filename: str | None = None,
    attachment_type: str | None = None,
) -> None:
    """Raise ConfigurationError unless exactly one of `attachment_id` / `run_id` is given.

    `filename` and `attachment_type` select among a run's attachments, so they need `run_id`.
    """
    for name, value in (("attachment_id", attachment_id), ("run_id", run_id)):
        if value is not None and not str(value).strip():
            raise ConfigurationError(f"{name} is empty (did a template render nothing?).")
    if (attachment_id is None) == (run_id is None):
        raise ConfigurationError("Pass either attachment_id or run_id (not both, not neither).")
    if attachment_id is not None and (filename is not None or attachment_type is not None):
        raise ConfigurationError(
            "filename and attachment_type select among a run's attachments: pass them with "
            "run_id, not with attachment_id."
        )
    if attachment_type is not None and str(attachment_type) not in _KINDS:
        raise ConfigurationError(
            f"attachment_type must be 'input', 'output' or None, got {attachment_type!r}."
        )


def _signed(attachment: RunAttachment, signed: DownloadUrl) -> SignedAttachmentUrl:
    return SignedAttachmentUrl(
        attachment_id=attachment.id,
        run_id=attachment.run_id,
        filename=attachment.filename,
        attachment_type=str(attachment.attachment_type),
        url=signed.url,
        expires_in=signed.expires_in,
        expires_at=signed.expires_at,
    )


def _attachment_steps(attachment_id: str, expires_in: int) -> Steps[Any, SignedAttachmentUrl]:
    check_expires_in(expires_in)
    attachment: RunAttachment = yield resource_endpoints.attachment_get(attachment_id)
    signed: DownloadUrl = yield resource_endpoints.attachment_download_url(
        attachment_id, expires_in=expires_in
    )
    return _signed(attachment, signed)


def _matching(attachments: Iterable[RunAttachment], filename: str | None) -> list[RunAttachment]:
    if filename is None:
        return list(attachments)
    return [item for item in attachments if fnmatchcase(item.filename, filename)]


def _run_steps(
    run_id: str, filename: str | None, attachment_type: str | None, expires_in: int
) -> Steps[Any, list[SignedAttachmentUrl]]:
    check_expires_in(expires_in)
    check_selection(None, run_id, filename, attachment_type)
    found: list[RunAttachment] = []
    skip: int | None = 0
    while skip is not None:
        page: Page[RunAttachment] = yield resource_endpoints.attachment_list(
            skip=skip, limit=_PAGE_SIZE, run_id=run_id, attachment_type=attachment_type
        )
        found.extend(page.items)
        skip = next_skip(page, skip)
    selected = _matching(found, filename)
    if filename is not None and not selected:
        kind = f"{attachment_type} " if attachment_type else ""
        names = ", ".join(sorted(item.filename for item in found)) or "none"
        raise AttachmentNotFoundError(
            f"Run {run_id} has no {kind}attachment named {filename!r} (its {kind}files: {names})."
        )
    urls = []
    for attachment in selected:
        signed = yield resource_endpoints.attachment_download_url(
            attachment.id, expires_in=expires_in
        )
        urls.append(_signed(attachment, signed))
    return urls


def sign_attachment(
    client: CyberdeskClient, attachment_id: str, *, expires_in: int = DEFAULT_EXPIRES_IN
) -> SignedAttachmentUrl:
    """A signed URL for one attachment, with its name and expiry.

    Raises:
        ConfigurationError: `expires_in` is not a whole number of seconds in 10..3600 (nothing
            is sent).
        NotFoundError: No such attachment.
    """
    return send_steps(client, _attachment_steps(attachment_id, expires_in))


async def asign_attachment(
    client: AsyncCyberdeskClient, attachment_id: str, *, expires_in: int = DEFAULT_EXPIRES_IN
) -> SignedAttachmentUrl:
    """Async form of `sign_attachment`."""
    return await asend_steps(client, _attachment_steps(attachment_id, expires_in))


def sign_run_attachments(
    client: CyberdeskClient,
    run_id: str,
    *,
    filename: str | None = None,
    attachment_type: str | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
) -> list[SignedAttachmentUrl]:
    """One signed URL per attachment of `run_id` that matches, in the API's order.

    Args:
        client: The Cyberdesk client.
        run_id: The run whose attachments to sign.
        filename: Only files with this name; shell-style wildcards match too (`*.csv`).
        attachment_type: `"output"`, `"input"`, or None for both.
        expires_in: Seconds each URL stays valid, 10..3600.

    Raises:
        ConfigurationError: A bad `expires_in` or `attachment_type` (nothing is sent).
        AttachmentNotFoundError: `filename` was given and no attachment matches it. Without
            `filename`, a run with no attachments gives an empty list.
    """
    return send_steps(client, _run_steps(run_id, filename, attachment_type, expires_in))


async def asign_run_attachments(
    client: AsyncCyberdeskClient,
    run_id: str,
    *,
    filename: str | None = None,
    attachment_type: str | None = None,
    expires_in: int = DEFAULT_EXPIRES_IN,
) -> list[SignedAttachmentUrl]:
    """Async form of `sign_run_attachments`."""
    return await asend_steps(client, _run_steps(run_id, filename, attachment_type, expires_in))
