"""Attachment content: small content in memory, the rest in files of a private temporary directory.

A gigabyte attachment must not cost a gigabyte of server memory, so content larger than
:data:`INLINE_LIMIT` lives in a file under one directory per emulator (created on first use,
removed by :meth:`BlobStore.close` and, as a last resort, when the store is garbage-collected or
the interpreter exits). Small content stays in memory: a file costs tens of microseconds to
write and to unlink, which would dominate creating thousands of runs with a small input file.

One :class:`Blob` may back many attachments (the runs of a bulk share their decoded
``file_inputs``); it counts its owners and its file is unlinked when the last one lets go.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from anyio import to_thread

INLINE_LIMIT = 64 * 1024
CHUNK_SIZE = 1024 * 1024


class Blob:
    """Content of one or more attachments: ``data`` in memory, or a file at ``path``."""

    __slots__ = ("_refs", "data", "path", "size")

    def __init__(self, size: int, *, data: bytes | None = None, path: Path | None = None) -> None:
        self.size = size
        self.data = data
        self.path = path
        self._refs = 0

    def __repr__(self) -> str:
        where = "memory" if self.path is None else "file"
        return f"Blob(size={self.size}, in={where}, refs={self._refs})"

    def open(self) -> BinaryIO:
        """A binary reader of the content (raises ``FileNotFoundError`` if the file is gone)."""
        if self.path is None:
            return io.BytesIO(self.data or b"")
        return open(self.path, "rb")

    def acquire(self) -> Blob:
        """One more attachment uses this content."""
        self._refs += 1
        return self

    def release(self) -> None:
        """One attachment let go; the file goes when nothing uses it any more."""
        self._refs -= 1
        self.discard()

    def discard(self) -> None:
        """Delete the file unless an attachment uses it (e.g. its run vanished meanwhile)."""
        if self._refs <= 0 and self.path is not None:
            # A download still streaming from this file keeps reading its open descriptor.
            self.path.unlink(missing_ok=True)


class BlobWriter:
    """Collects content chunk by chunk; spills to a file once it outgrows the inline limit."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._path: Path | None = None
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append bytes (blocking file I/O once spilled: call it from a worker thread)."""
        self.size += len(chunk)
        if self._file is None:
            self._buffer += chunk
            if len(self._buffer) <= self._store.inline_limit:
                return
            self._path = self._store.new_path()
            self._file = open(self._path, "xb")  # noqa: SIM115 - closed in finish()/abort()
            chunk, self._buffer = bytes(self._buffer), bytearray()
        self._file.write(chunk)

    def finish(self) -> Blob:
        """Close and return the blob holding everything written."""
        if self._file is None:
            return Blob(self.size, data=bytes(self._buffer))
        self._file.close()
        return Blob(self.size, path=self._path)

    def abort(self) -> None:
        """Drop what was written (the upload failed)."""
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)


class BlobStore:
    """Creates :class:`Blob` s and owns the temporary directory of their files."""

    def __init__(self, *, inline_limit: int = INLINE_LIMIT) -> None:
        self.inline_limit = inline_limit
        # Uploads spill to files from worker threads: the directory is created exactly once.
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._cleanup: weakref.finalize[..., BlobStore] | None = None

    def __repr__(self) -> str:
        return f"BlobStore(root={self._root}, inline_limit={self.inline_limit})"

    @property
    def root(self) -> Path:
        """The directory of the files (created on first use)."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="cyberdesk-emulator-"))
                # Safety net for stores nobody closes: runs at garbage collection or exit.
                self._cleanup = weakref.finalize(
                    self, shutil.rmtree, self._root, ignore_errors=True
                )
            return self._root

    @property
    def directory(self) -> Path | None:
        """The directory if one was created and not yet removed."""
        return self._root

    def new_path(self) -> Path:
        """A fresh, unused file name inside :attr:`root`."""
        return self.root / uuid.uuid4().hex

    def from_bytes(self, data: bytes) -> Blob:
        """Keep small content in memory, write larger content to a new file."""
        if len(data) <= self.inline_limit:
            return Blob(len(data), data=data)
        path = self.new_path()
        with open(path, "xb") as out:
            out.write(data)
        return Blob(len(data), path=path)

    def writer(self) -> BlobWriter:
        """An incremental writer (for content that arrives in chunks)."""
        return BlobWriter(self)

    def close(self) -> None:
        """Remove the directory and every file in it (a later write starts a new directory)."""
        with self._lock:
            if self._cleanup is not None:
                self._cleanup()
                self._cleanup = None
            self._root = None


async def stream(reader: BinaryIO) -> AsyncIterator[bytes]:
    """Read ``reader`` in :data:`CHUNK_SIZE` pieces in a worker thread; always closes it."""
    try:
        while True:
            chunk = await to_thread.run_sync(reader.read, CHUNK_SIZE)
            if not chunk:
                return
            yield chunk
    finally:
        reader.close()
