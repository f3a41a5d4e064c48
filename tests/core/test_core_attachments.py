"""Attachment downloads: streaming in constant memory, atomic rename, size checks, safe names."""

from __future__ import annotations

import io
import os
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from core_fakes import FakeAPI

from cyberdesk_core import (
    APIConnectionError,
    AsyncCyberdeskClient,
    CyberdeskClient,
    DownloadError,
    NotFoundError,
)
from cyberdesk_core.attachments import safe_filename

META = "/v1/run-attachments/att-1"
DATA = "/v1/run-attachments/att-1/download"


def meta(size: int, filename: str = "report.csv") -> dict[str, object]:
    return {
        "id": "att-1",
        "run_id": "run-1",
        "filename": filename,
        "content_type": "text/csv",
        "attachment_type": "output",
        "size_bytes": size,
    }


def chunks(total: int, chunk: int = 256 * 1024, fail_after: int | None = None) -> Iterator[bytes]:
    sent = 0
    block = b"x" * chunk
    while sent < total:
        if fail_after is not None and sent >= fail_after:
            raise httpx.ReadError("connection reset")
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


async def achunks(total: int, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    for piece in chunks(total, chunk):
        yield piece


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.csv", "report.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("..", "attachment-1"),
        (".", "attachment-1"),
        ("", "attachment-1"),
        (None, "attachment-1"),
        ("dir/", "attachment-1"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("  spaced.txt ", "spaced.txt"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name, "attachment-1") == expected


def test_download_to_path(api: FakeAPI, client: CyberdeskClient, tmp_path: Path) -> None:
    api.queue("GET", META, meta(11))
    api.queue("GET", DATA, httpx.Response(200, content=b"hello world"))
    target = tmp_path / "out.csv"
    result = client.run_attachments.download("att-1", target)
    assert target.read_bytes() == b"hello world"
    assert result.path == target
    assert result.size_bytes == 11
    assert result.filename == "report.csv"
    assert result.attachment_id == "att-1"
    assert leftovers(tmp_path) == ["out.csv"]


def test_downloads_ask_for_uncompressed_bytes(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    """A file's bytes are asked for as they are (`Accept-Encoding: identity`): a gzip-encoded
    body would expand chunk by chunk in memory before the size check could stop it."""
    api.queue("GET", META, meta(11))
    api.queue("GET", DATA, httpx.Response(200, content=b"hello world"))
    client.run_attachments.download("att-1", tmp_path / "out.csv")
    (download,) = [r for r in api.requests if r.path == DATA]
    assert download.headers["accept-encoding"] == "identity"
    (metadata,) = [r for r in api.requests if r.path == META]
    assert metadata.headers["accept-encoding"] != "identity"  # JSON may still be compressed


def test_download_into_directory_uses_sanitised_name(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    api.queue("GET", META, meta(3, filename="../../outside.txt"))
    api.queue("GET", DATA, httpx.Response(200, content=b"abc"))
    result = client.run_attachments.download("att-1", str(tmp_path))
    assert result.path == tmp_path / "outside.txt"
    assert leftovers(tmp_path) == ["outside.txt"]
    assert not (tmp_path.parent / "outside.txt").exists()


def test_download_to_file_object(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", META, meta(4))
    api.queue("GET", DATA, httpx.Response(200, content=b"data"))
    buf = io.BytesIO()
    result = client.run_attachments.download("att-1", buf)
    assert buf.getvalue() == b"data"
    assert result.path is None
    assert result.size_bytes == 4


def test_size_mismatch_leaves_no_partial_file(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    target = tmp_path / "report.csv"
    target.write_bytes(b"previous version")
    api.queue("GET", META, meta(10))
    api.queue("GET", DATA, httpx.Response(200, content=chunks(5, chunk=2)))
    with pytest.raises(DownloadError, match="got 5 bytes, expected 10"):
        client.run_attachments.download("att-1", target)
    assert leftovers(tmp_path) == ["report.csv"]
    assert target.read_bytes() == b"previous version"


def test_file_object_size_mismatch_raises(api: FakeAPI, client: CyberdeskClient) -> None:
    api.queue("GET", META, meta(10))
    api.queue("GET", DATA, httpx.Response(200, content=b"short"))
    with pytest.raises(DownloadError):
        client.run_attachments.download("att-1", io.BytesIO())


def test_connection_lost_mid_stream(api: FakeAPI, client: CyberdeskClient, tmp_path: Path) -> None:
    api.queue("GET", META, meta(1_000_000))
    api.queue("GET", DATA, httpx.Response(200, content=chunks(1_000_000, 1000, fail_after=5000)))
    with pytest.raises(APIConnectionError, match="ReadError"):
        client.run_attachments.download("att-1", tmp_path / "f.bin")
    assert leftovers(tmp_path) == []


def test_missing_attachment_and_bad_destination(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="attachment att-1"):
        client.run_attachments.download("att-1", tmp_path)
    api.queue("GET", META, meta(3))
    with pytest.raises(DownloadError, match="does not exist"):
        client.run_attachments.download("att-1", tmp_path / "no" / "such" / "dir.csv")
    assert api.count("GET", DATA) == 0
    api.queue("GET", DATA, httpx.Response(410, json={"detail": "expired"}))
    with pytest.raises(Exception, match="410"):
        client.run_attachments.download("att-1", tmp_path)
    assert leftovers(tmp_path) == []


def test_download_retries_before_body(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path, sleeps: list[float]
) -> None:
    api.queue("GET", META, meta(3))
    api.queue(
        "GET",
        DATA,
        httpx.Response(503, json={"detail": "busy"}),
        httpx.ConnectError("x"),
        httpx.Response(200, content=b"abc"),
    )
    result = client.run_attachments.download("att-1", tmp_path)
    assert result.size_bytes == 3
    assert len(sleeps) == 2


def test_fifty_megabytes_stream_in_constant_memory(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    size = 50 * 1024 * 1024
    api.queue("GET", META, meta(size, filename="big.bin"))
    api.queue("GET", DATA, lambda request: httpx.Response(200, content=chunks(size)))
    tracemalloc.start()
    try:
        result = client.run_attachments.download("att-1", tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size_bytes == size
    assert os.path.getsize(tmp_path / "big.bin") == size
    assert leftovers(tmp_path) == ["big.bin"]
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"


async def test_async_download(api: FakeAPI, aclient: AsyncCyberdeskClient, tmp_path: Path) -> None:
    size = 3 * 1024 * 1024 + 7
    api.queue("GET", META, meta(size, filename="a/b/c.bin"))
    api.queue("GET", DATA, lambda request: httpx.Response(200, content=achunks(size)))
    result = await aclient.run_attachments.download("att-1", tmp_path)
    assert result.path == tmp_path / "c.bin"
    assert (tmp_path / "c.bin").stat().st_size == size
    assert leftovers(tmp_path) == ["c.bin"]


async def test_async_size_mismatch(
    api: FakeAPI, aclient: AsyncCyberdeskClient, tmp_path: Path
) -> None:
    api.queue("GET", META, meta(100))
    api.queue("GET", DATA, lambda request: httpx.Response(200, content=achunks(99, 10)))
    with pytest.raises(DownloadError):
        await aclient.run_attachments.download("att-1", tmp_path / "x.bin")
    assert leftovers(tmp_path) == []


# --- The advertised size is a hard limit: writing stops at the first byte past it. ---

MB = 1024 * 1024


def counted(total: int, pulled: list[int], chunk: int = 64 * 1024) -> Iterator[bytes]:
    """`total` bytes, counting in `pulled` the chunks the client actually asked for."""
    for piece in chunks(total, chunk):
        pulled.append(len(piece))
        yield piece


async def acounted(total: int, pulled: list[int]) -> AsyncIterator[bytes]:
    for piece in counted(total, pulled):
        yield piece


def gzip_bomb(decoded: int, pulled: list[int]) -> Iterator[bytes]:
    """`decoded` zero bytes, gzip-compressed (about 1000:1) lazily as the client pulls them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    for _ in range(decoded // MB):
        piece = packer.compress(bytes(MB))
        if piece:
            pulled.append(len(piece))
            yield piece
    yield packer.flush()


def test_oversized_body_stops_at_advertised_size(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    target = tmp_path / "report.csv"
    target.write_bytes(b"previous version")
    pulled: list[int] = []
    api.queue("GET", META, meta(5))
    api.queue("GET", DATA, httpx.Response(200, content=counted(64 * MB, pulled)))
    with pytest.raises(DownloadError) as caught:
        client.run_attachments.download("att-1", target)
    assert "att-1" in str(caught.value)
    assert "more than its advertised size of 5 bytes" in str(caught.value)
    assert len(pulled) <= 2
    assert leftovers(tmp_path) == ["report.csv"]
    assert target.read_bytes() == b"previous version"


def test_announced_oversize_is_refused_before_reading(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    pulled: list[int] = []
    api.queue("GET", META, meta(5))
    api.queue(
        "GET",
        DATA,
        httpx.Response(200, headers={"content-length": "400000000"}, content=counted(MB, pulled)),
    )
    with pytest.raises(DownloadError, match="announced 400000000 bytes, more than"):
        client.run_attachments.download("att-1", tmp_path)
    assert pulled == []
    assert leftovers(tmp_path) == []


def test_gzip_bomb_stops_after_first_chunk(
    api: FakeAPI, client: CyberdeskClient, tmp_path: Path
) -> None:
    pulled: list[int] = []
    api.queue("GET", META, meta(5))
    bomb = gzip_bomb(256 * MB, pulled)
    api.queue("GET", DATA, httpx.Response(200, headers={"content-encoding": "gzip"}, content=bomb))
    with pytest.raises(DownloadError, match="more than its advertised size of 5 bytes"):
        client.run_attachments.download("att-1", tmp_path)
    assert len(pulled) <= 2
    assert leftovers(tmp_path) == []


def test_file_object_stops_writing_past_advertised_size(
    api: FakeAPI, client: CyberdeskClient
) -> None:
    api.queue("GET", META, meta(5))
    api.queue("GET", DATA, httpx.Response(200, content=chunks(MB, chunk=2)))
    buf = io.BytesIO()
    with pytest.raises(DownloadError, match="Writing to the file object stopped at 0 bytes"):
        client.run_attachments.download("att-1", buf)
    assert buf.getvalue() == b""


async def test_async_oversized_body_stops_at_advertised_size(
    api: FakeAPI, aclient: AsyncCyberdeskClient, tmp_path: Path
) -> None:
    pulled: list[int] = []
    api.queue("GET", META, meta(5))
    api.queue("GET", DATA, lambda request: httpx.Response(200, content=acounted(64 * MB, pulled)))
    with pytest.raises(DownloadError, match="more than its advertised size of 5 bytes"):
        await aclient.run_attachments.download("att-1", tmp_path)
    assert len(pulled) <= 2
    assert leftovers(tmp_path) == []
