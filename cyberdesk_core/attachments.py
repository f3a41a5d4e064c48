"""Streaming attachment downloads: constant memory, bounded, atomic, never a partial file.

`DownloadSink` is the I/O-agnostic part shared by the sync and async clients (they only feed it
chunks from httpx); it holds every download safety rule, so engines never write files
themselves:

- the body may not exceed the attachment's advertised `size_bytes`: writing stops at the first
  chunk past it (a lying server or a gzip bomb cannot fill the disk) and the temp file is deleted;
- a path destination is written to a hidden temp file in the same directory, verified, then
  moved into place in one step, so the final name never holds a partial file;
- a directory destination gets the server's name made safe (`safe_filename`) and unique: the
  final name is created exclusively, so an existing file or symlink is never overwritten or
  followed and concurrent downloads cannot take the same name;
- an explicit file path is replaced with `os.replace` (a symlink there is replaced, not followed);
- permissions: every downloaded file is created with `DOWNLOAD_FILE_MODE` (0o666) minus the
  process umask, like any file the user's process creates (0o644 under the usual umask 022,
  0o600 under 077, e.g. Airflow's `daemon_umask`). Both engines download through here (a Prefect
  `LocalFileSystem` block writes its copy with the same umask rule), so a deployment chooses
  private files with its umask, once, for both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from cyberdesk_core.errors import DownloadError
from cyberdesk_core.filenames import UniqueNames, safe_filename, temp_name
from cyberdesk_core.models import DownloadResult, RunAttachment

__all__ = [
    "CHUNK_SIZE",
    "DOWNLOAD_FILE_MODE",
    "Destination",
    "DownloadSink",
    "UniqueNames",
    "content_length",
    "safe_filename",
]

CHUNK_SIZE = 64 * 1024

Destination = str | os.PathLike[str] | IO[bytes]

#: Mode a downloaded file is created with; the process umask removes bits from it (the kernel
#: applies it at creation, so no thread-unsafe umask read is needed).
DOWNLOAD_FILE_MODE = 0o666

# O_EXCL: the temp file is new (an attacker's symlink there makes it fail, not redirect it).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _is_file_object(destination: object) -> bool:
    return hasattr(destination, "write") and not isinstance(destination, str | os.PathLike)


class DownloadSink:
    """Receives the chunks of one download and commits or aborts it.

    :param names: the batch's `UniqueNames` when several files go into one directory, so two
        attachments named alike get ``report.csv`` and ``report (2).csv``.
    """

    def __init__(
        self,
        attachment: RunAttachment,
        destination: Destination,
        *,
        names: UniqueNames | None = None,
    ) -> None:
        self.attachment = attachment
        self.filename = safe_filename(attachment.filename, f"attachment-{attachment.id}")
        self.expected = attachment.size_bytes
        self.bytes_written = 0
        self._names = names if names is not None else UniqueNames()
        self._folder: Path | None = None  # directory destination: name chosen at commit
        self._target: Path | None = None  # explicit file path
        self._tmp_path: Path | None = None
        self._handle: IO[bytes] | None = None
        self._owned = False
        if _is_file_object(destination):
            self._handle = destination  # type: ignore[assignment]
            return
        path = Path(os.fspath(destination))  # type: ignore[arg-type]
        if path.is_dir():
            self._folder = path
        elif path.parent.is_dir():
            self._target = path
        else:
            raise DownloadError(
                f"Cannot save attachment {attachment.id}: directory {str(path.parent)!r} does "
                "not exist. Create it or pass an existing directory."
            )

    def __enter__(self) -> DownloadSink:
        final = self._target
        if final is None and self._folder is not None:
            final = self._folder / self.filename
        if final is not None:
            # Same directory as the final name, so moving it there is an atomic rename.
            while True:
                tmp = final.parent / temp_name(final.name)
                try:
                    fd = os.open(tmp, _CREATE, DOWNLOAD_FILE_MODE)
                    break
                except FileExistsError:  # another download's temp file: pick another token
                    continue
            self._tmp_path = tmp
            self._handle = os.fdopen(fd, "wb")
            self._owned = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: Any) -> None:
        if exc_type is not None:
            self.abort()

    def start(self, content_length: int | None) -> None:
        """Refuse the body before reading it when its Content-Length is not the advertised size."""
        if content_length is not None and content_length > self.expected:
            self.abort()
            raise self._too_large(content_length, "announced")
        if content_length is not None and content_length < self.expected:
            self.abort()
            raise self._incomplete(content_length)

    def write(self, chunk: bytes) -> None:
        """Append one chunk; stop (delete the temp file, raise) once past the advertised size."""
        if self._handle is None:
            raise DownloadError("download sink is not open")
        received = self.bytes_written + len(chunk)
        if received > self.expected:
            self.abort()
            raise self._too_large(received, "sent at least")
        self._handle.write(chunk)
        self.bytes_written = received

    def commit(self, content_length: int | None = None) -> DownloadResult:
        """Verify the byte count and move the temp file into place."""
        mismatch = self.bytes_written != self.expected or (
            content_length is not None and content_length != self.bytes_written
        )
        if mismatch:
            self.abort()
            raise self._incomplete(self.bytes_written)
        path: Path | None = None
        if self._owned and self._handle is not None and self._tmp_path is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
            try:
                path = self._publish(self._tmp_path)
            finally:
                self.abort()
        return DownloadResult(
            attachment_id=self.attachment.id,
            filename=self.filename,
            path=path,
            size_bytes=self.bytes_written,
        )

    def abort(self) -> None:
        """Close and delete the temp file (caller-owned file objects are left alone)."""
        if self._owned and self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tmp_path is not None:
            self._tmp_path.unlink(missing_ok=True)
            self._tmp_path = None

    def _publish(self, tmp: Path) -> Path:
        if self._target is not None:
            os.replace(tmp, self._target)
            return self._target
        assert self._folder is not None
        while True:
            name = self._names.claim(self.filename)
            if not _is_one_component(name):  # unreachable with safe names; never write outside
                raise DownloadError(f"Refusing to write {name!r} outside {self._folder}.")
            final = self._folder / name
            if _create_exclusively(tmp, final):
                return final

    def _too_large(self, size: int, how: str) -> DownloadError:
        kept = (
            "The temporary file was deleted"
            if self._owned
            else f"Writing to the file object stopped at {self.bytes_written} bytes; discard it"
        )
        return DownloadError(
            f"Download of attachment {self.attachment.id} ({self.filename}) stopped: the server "
            f"{how} {size} bytes, more than its advertised size of {self.expected} bytes. "
            f"{kept}. Retry later or ask Cyberdesk support to check the attachment."
        )

    def _incomplete(self, size: int) -> DownloadError:
        return DownloadError(
            f"Download of attachment {self.attachment.id} ({self.filename}) is incomplete: got "
            f"{size} bytes, expected {self.expected}. Retry the download."
        )


def _is_one_component(name: str) -> bool:
    """`name` is an entry of its folder: not the folder, its parent, a path or a drive."""
    return (
        name not in {"", ".", ".."}
        and "/" not in name
        and "\\" not in name
        and Path(name).name == name
    )


def _create_exclusively(tmp: Path, final: Path) -> bool:
    """Give `tmp`'s content the name `final` only if nothing (file, symlink) has it; False if taken.

    A hard link is created atomically and fails when the name exists. Where hard links are not
    supported, an empty placeholder is created exclusively and then replaced by the temp file.
    """
    try:
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    except OSError:
        pass  # no hard links here (FAT, some network shares): a real failure shows up below
    try:
        os.close(os.open(final, _CREATE, DOWNLOAD_FILE_MODE))
    except FileExistsError:
        return False
    try:
        os.replace(tmp, final)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return True


def content_length(headers: Any) -> int | None:
    """Content-Length when it describes the decoded body (i.e. no content-encoding)."""
    if headers.get("content-encoding"):
        return None
    raw = headers.get("content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None
