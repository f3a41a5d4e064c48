"""Streaming attachment downloads: constant memory, temp file + atomic rename, size verified.

`DownloadSink` is the I/O-agnostic part shared by the sync and async clients: it resolves the
destination, receives chunks, and either commits (verify size, rename into place) or aborts
(delete the partial temp file). The clients only feed it chunks from httpx.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any

from cyberdesk_core.errors import DownloadError
from cyberdesk_core.models import DownloadResult, RunAttachment

__all__ = ["CHUNK_SIZE", "Destination", "DownloadSink", "safe_filename"]

CHUNK_SIZE = 64 * 1024

Destination = str | os.PathLike[str] | IO[bytes]

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def safe_filename(name: str | None, fallback: str) -> str:
    """Reduce a server-supplied filename to a safe basename (no directories, no `.`/`..`)."""
    if name:
        base = _UNSAFE.sub("", name.replace("\\", "/")).split("/")[-1].strip()
        if base and base not in {".", ".."}:
            return base
    return fallback


def _is_file_object(destination: object) -> bool:
    return hasattr(destination, "write") and not isinstance(destination, str | os.PathLike)


class DownloadSink:
    """Receives the chunks of one download and commits or aborts it."""

    def __init__(self, attachment: RunAttachment, destination: Destination) -> None:
        self.attachment = attachment
        self.filename = safe_filename(attachment.filename, f"attachment-{attachment.id}")
        self.bytes_written = 0
        self._target: Path | None = None
        self._tmp_path: Path | None = None
        self._handle: IO[bytes] | None = None
        self._owned = False
        if _is_file_object(destination):
            self._handle = destination  # type: ignore[assignment]
            return
        path = Path(os.fspath(destination))  # type: ignore[arg-type]
        target = path / self.filename if path.is_dir() else path
        if not target.parent.is_dir():
            raise DownloadError(
                f"Cannot save attachment {attachment.id}: directory {str(target.parent)!r} does "
                "not exist. Create it or pass an existing directory."
            )
        self._target = target

    def __enter__(self) -> DownloadSink:
        if self._target is not None:
            # Same directory as the target so the final os.replace is an atomic rename.
            fd, tmp = tempfile.mkstemp(
                prefix=f".{self._target.name}.", suffix=".part", dir=self._target.parent
            )
            self._tmp_path = Path(tmp)
            self._handle = os.fdopen(fd, "wb")
            self._owned = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: Any) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, chunk: bytes) -> None:
        """Append one chunk."""
        if self._handle is None:
            raise DownloadError("download sink is not open")
        self._handle.write(chunk)
        self.bytes_written += len(chunk)

    def reset(self) -> None:
        """Discard what was written so far (used when a download restarts)."""
        if self._handle is not None and self._owned:
            self._handle.seek(0)
            self._handle.truncate()
            self.bytes_written = 0

    def commit(self, content_length: int | None = None) -> DownloadResult:
        """Verify the byte count and move the temp file into place."""
        expected = self.attachment.size_bytes
        mismatch = self.bytes_written != expected or (
            content_length is not None and content_length != self.bytes_written
        )
        if mismatch:
            self.abort()
            raise DownloadError(
                f"Download of attachment {self.attachment.id} ({self.filename}) is incomplete: got "
                f"{self.bytes_written} bytes, expected {expected}. Retry the download."
            )
        if self._owned and self._handle is not None and self._tmp_path and self._target:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
            os.replace(self._tmp_path, self._target)
            self._tmp_path = None
        return DownloadResult(
            attachment_id=self.attachment.id,
            filename=self.filename,
            path=self._target,
            size_bytes=self.bytes_written,
        )

    def abort(self) -> None:
        """Close and delete the partial temp file (caller-owned file objects are left alone)."""
        if self._owned and self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self._tmp_path = None


def content_length(headers: Any) -> int | None:
    """Content-Length when it describes the decoded body (i.e. no content-encoding)."""
    if headers.get("content-encoding"):
        return None
    raw = headers.get("content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def url_error(status_code: int) -> DownloadError:
    """Error for a signed URL the storage refused."""
    return DownloadError(
        f"The signed download URL was refused ({status_code}); it may have expired or be invalid. "
        "Request a new one with run_attachments.get_download_url()."
    )
