"""Download a run's attachments to an object-storage folder (streamed, constant memory).

Download safety lives in the core (`cyberdesk_core.attachments`): this module only picks the
destination. A local folder (a plain path or ``file://``) is handed to the core's path API, which
stages each file in a hidden temp file there, verifies it and gives it a safe, unique final name
without following or overwriting anything. A remote folder (``s3://``, ``gs://``, ...) gets the
same verified local file, uploaded under a hidden temporary key and then renamed, so a failed
upload never leaves a partial object under the final name.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
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

#: Protocols whose paths are local files, handed to the core's path API as they are.
LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def as_storage_path(folder: ObjectStoragePath | str) -> ObjectStoragePath:
    """Accept an ``ObjectStoragePath``, a URI (``s3://bucket/x``) or a local path."""
    storage_path = _compat.ObjectStoragePath
    if isinstance(folder, storage_path):
        return folder
    text = str(folder)
    return storage_path(text if "://" in text else f"file://{text}")


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
    """Stream each attachment into ``folder`` (when given) and describe the results.

    Names are the core's safe names, unique within the batch and against the folder's content
    (``report.csv``, ``report (2).csv``, ...).
    """
    if folder is None:
        return [describe_attachment(item, None) for item in attachments]
    from cyberdesk_core.attachments import UniqueNames

    target = as_storage_path(folder)
    names = UniqueNames()
    results = []
    if target.protocol in LOCAL_PROTOCOLS:
        local = Path(target.path)
        local.mkdir(parents=True, exist_ok=True)
        for item in attachments:
            done = client.run_attachments.download(item.id, local, names=names)
            assert done.path is not None
            results.append(_downloaded(item, target / done.path.name, log))
        return results
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cyberdesk-") as scratch:
        for item in attachments:
            done = client.run_attachments.download(item.id, Path(scratch))
            assert done.path is not None
            try:
                name = names.claim(done.filename, lambda n: bool((target / n).exists()))
                path = upload_then_rename(done.path, target, name)
            finally:
                done.path.unlink(missing_ok=True)
            results.append(_downloaded(item, path, log))
    return results


def upload_then_rename(source: Path, folder: ObjectStoragePath, name: str) -> ObjectStoragePath:
    """Copy the verified local file ``source`` to ``folder / name`` without a partial object there.

    Object stores and fsspec file systems differ in what a failed write leaves behind (s3fs
    completes a multipart upload when its file is closed, even after an error; sftp leaves a
    short file), so the bytes go to a hidden temporary key beside the final one, which is
    deleted if anything fails, and only a complete upload is renamed (a server-side copy on
    object stores) to the final name. Another writer may take ``name`` between the core's
    existence check and the rename: object stores offer no portable exclusive create.
    """
    from cyberdesk_core.attachments import CHUNK_SIZE
    from cyberdesk_core.errors import DownloadError
    from cyberdesk_core.filenames import temp_name

    final = folder / name
    staging = folder / temp_name(name)
    try:
        writer = staging.open("wb")  # type: ignore[no-untyped-call]
        with source.open("rb") as reader, writer:
            shutil.copyfileobj(reader, writer, CHUNK_SIZE)
        if staging.stat().st_size != source.stat().st_size:
            raise DownloadError(f"Upload of {name} to {folder} is incomplete; retry the task.")
        staging.rename(final)
    except BaseException:
        with contextlib.suppress(Exception):  # the original error matters more
            staging.unlink(missing_ok=True)
        raise
    return final


def _downloaded(item: RunAttachment, path: ObjectStoragePath, log: Any) -> dict[str, Any]:
    log.info("Downloaded attachment %s (%s bytes) to %s", item.id, item.size_bytes, path)
    return describe_attachment(item, str(path))


class CyberdeskDownloadAttachmentsOperator(BaseOperator):
    """Download the attachments of a finished run to an object-storage folder.

    Files are streamed to the destination (local disk, S3, GCS, ... through ``ObjectStoragePath``),
    so memory use does not grow with their size. Each file gets a safe name that is unique in the
    folder (``report.csv``, ``report (2).csv``: nothing is overwritten), and a failed download
    leaves nothing under that name. Returns the list of attachment descriptions
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
