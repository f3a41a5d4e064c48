"""Download a run's attachments to an object-storage folder (streamed, constant memory)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cyberdesk_airflow import _compat
from cyberdesk_airflow._compat import BaseOperator
from cyberdesk_airflow._defaults import DEFAULT_CONN_ID
from cyberdesk_airflow.links import XCOM_ATTACHMENTS, CyberdeskRunLink

# The hook, the client and object storage are imported when a task runs, not when a DAG file
# that uses these operators is parsed.
if TYPE_CHECKING:
    from cyberdesk_airflow._compat import Context, ObjectStoragePath
    from cyberdesk_airflow.hooks import CyberdeskHook
    from cyberdesk_core import CyberdeskClient, RunAttachment


def as_storage_path(folder: ObjectStoragePath | str) -> ObjectStoragePath:
    """Accept an ``ObjectStoragePath``, a URI (``s3://bucket/x``) or a local path."""
    storage_path = _compat.ObjectStoragePath
    if isinstance(folder, storage_path):
        return folder
    text = str(folder)
    return storage_path(text if "://" in text else f"file://{text}")


def unique_filename(attachment: RunAttachment, used: set[str]) -> str:
    """A file name without directories or odd characters, unique within one download batch."""
    from cyberdesk_core.attachments import safe_filename as core_safe_filename

    name = core_safe_filename(attachment.filename, f"attachment-{attachment.id}")
    if name in used:
        stem, dot, suffix = name.rpartition(".")
        name = (
            f"{stem}_{attachment.id[:8]}.{suffix}"
            if dot and stem
            else f"{name}_{attachment.id[:8]}"
        )
    used.add(name)
    return name


def describe_attachment(attachment: RunAttachment, path: str | None) -> dict[str, Any]:
    """Metadata pushed to XCom (``cyberdesk_attachments``); ``path`` is None when not downloaded."""
    return {
        "id": attachment.id,
        "run_id": attachment.run_id,
        "filename": attachment.filename,
        "attachment_type": str(attachment.attachment_type),
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "path": path,
    }


def list_attachments(
    client: CyberdeskClient, run_id: str, attachment_type: str | None
) -> list[RunAttachment]:
    """All attachments of a run, optionally of one type (``input`` / ``output``)."""
    return list(client.run_attachments.iter(run_id=run_id, attachment_type=attachment_type))


def download_attachments(
    client: CyberdeskClient,
    attachments: Sequence[RunAttachment],
    folder: ObjectStoragePath | str | None,
    log: Any,
) -> list[dict[str, Any]]:
    """Stream each attachment into ``folder`` (when given) and describe the results."""
    if folder is None:
        return [describe_attachment(item, None) for item in attachments]
    target = as_storage_path(folder)
    target.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    results = []
    for item in attachments:
        path = target / unique_filename(item, used)
        with path.open("wb") as handle:  # type: ignore[no-untyped-call]
            client.run_attachments.download(item.id, handle)
        log.info("Downloaded attachment %s (%s bytes) to %s", item.id, item.size_bytes, path)
        results.append(describe_attachment(item, str(path)))
    return results


class CyberdeskDownloadAttachmentsOperator(BaseOperator):
    """Download the attachments of a finished run to an object-storage folder.

    Files are streamed to the destination (local disk, S3, GCS, ... through ``ObjectStoragePath``),
    so memory use does not grow with their size. Returns the list of attachment descriptions
    (``id``, ``filename``, ``attachment_type``, ``content_type``, ``size_bytes``, ``path``), also
    pushed under the XCom key ``cyberdesk_attachments``.

    :param run_id: Run whose attachments to download (templated).
    :param destination: Folder as ``ObjectStoragePath`` or URI (templated).
    :param attachment_type: ``output`` (default), ``input``, or None for both.
    :param cyberdesk_conn_id: Cyberdesk connection id.
    """

    template_fields = ("run_id", "destination", "attachment_type", "cyberdesk_conn_id")
    operator_extra_links = (CyberdeskRunLink(),)
    ui_color = "#e9e4ff"

    def __init__(
        self,
        *,
        run_id: str,
        destination: ObjectStoragePath | str,
        attachment_type: str | None = "output",
        cyberdesk_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.destination = destination
        self.attachment_type = attachment_type
        self.cyberdesk_conn_id = cyberdesk_conn_id

    @cached_property
    def hook(self) -> CyberdeskHook:
        """Hook for ``cyberdesk_conn_id``."""
        from cyberdesk_airflow.hooks import CyberdeskHook

        return CyberdeskHook(self.cyberdesk_conn_id)

    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Download and return the attachment descriptions."""
        if self.attachment_type not in (None, "input", "output"):
            raise ValueError(
                f"attachment_type must be 'input', 'output' or None, not {self.attachment_type!r}"
            )
        with self.hook.get_client() as client:
            context["ti"].xcom_push(key="run_url", value=client.run_url(self.run_id))
            attachments = list_attachments(client, self.run_id, self.attachment_type)
            results = download_attachments(client, attachments, self.destination, self.log)
        context["ti"].xcom_push(key=XCOM_ATTACHMENTS, value=results)
        return results
