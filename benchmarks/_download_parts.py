"""The pieces of benchmark 3: the attachment, the emulator's RSS, one download in a fresh process.

`add_attachment`: writes SIZE bytes (a 1 MiB pseudo-random block repeated) to a local file and
attaches it to a run through the emulator's admin API (`EmulatorAdmin.add_attachment`, which
streams the file into the emulator's attachment directory), like any large file a test wants a
run to have exported.

`RssSampler`: the peak RSS of another process (the emulator) while a block runs, sampled with
psutil.

`python -m benchmarks._download_parts client METHOD URL KEY ATTACHMENT DEST`: one download,
reporting seconds, bytes, RSS before and peak RSS (`ru_maxrss`). Methods: `ours`
(`run_attachments.download`), `raw` (an httpx stream written chunk by chunk) and `memory`
(`response.content`, the official SDK's way). All three end with the bytes on disk and fsynced,
so they do the same work.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from benchmarks._emulator import EmulatorProcess

BLOCK = 1024 * 1024
FILENAME = "ledger-export.bin"


def write_file(path: Path, size: int) -> None:
    """`size` bytes of a 1 MiB pseudo-random block repeated, written block by block."""
    block = random.Random(7).randbytes(BLOCK)
    with open(path, "wb") as out:
        for _ in range(size // BLOCK):
            out.write(block)
        out.write(block[: size % BLOCK])


def add_attachment(emu: EmulatorProcess, size: int, work_dir: Path) -> str:
    """Create a run through the API and give it a `size`-byte output attachment; its id."""
    from cyberdesk_core import CyberdeskClient

    with CyberdeskClient(emu.api_key, base_url=emu.url) as client:
        workflow = client.workflows.list().items[0]
        run = client.runs.create(workflow.id)
    source = work_dir / FILENAME
    write_file(source, size)
    try:
        attachment = emu.admin.add_attachment(
            run.id, source, content_type="application/octet-stream"
        )
    finally:
        source.unlink()
    if attachment["size_bytes"] != size:
        raise RuntimeError(f"emulator stored {attachment['size_bytes']} of {size} bytes")
    # Write the emulator's copy back to disk now: otherwise that writeback competes with the
    # first download's own writes and fsync, and slows whichever method happens to go first.
    os.sync()
    return str(attachment["id"])


class RssSampler:
    """Peak RSS of a process while a `with sampler.sampling():` block runs."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self.peak = 0

    def rss(self) -> int:
        """Current RSS in bytes."""
        return int(self._process.memory_info().rss)

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        """Sample in a background thread; `peak` holds the highest RSS seen in the block."""
        self.peak = self.rss()
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(self._interval):
                self.peak = max(self.peak, self.rss())

        thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.peak = max(self.peak, self.rss())


def _download(method: str, url: str, key: str, attachment_id: str, dest: Path) -> int:
    if method == "ours":
        from cyberdesk_core import CyberdeskClient

        with CyberdeskClient(key, base_url=url, timeout=300) as client:
            return client.run_attachments.download(attachment_id, dest).size_bytes
    path = f"{url}/v1/run-attachments/{attachment_id}/download"
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(timeout=300) as http, open(dest, "wb") as out:
        if method == "raw":
            written = 0
            with http.stream("GET", path, headers=headers) as response:
                response.raise_for_status()
                for chunk in response.iter_raw():
                    out.write(chunk)
                    written += len(chunk)
        else:
            response = http.get(path, headers=headers)
            response.raise_for_status()
            written = out.write(response.content)
        out.flush()
        os.fsync(out.fileno())
    return written


def client(method: str, url: str, key: str, attachment_id: str, dest_dir: str) -> None:
    """One download; prints a JSON line with the figures."""
    import cyberdesk_core  # noqa: F401  (imported before the RSS reference point)

    dest = Path(dest_dir) / f"{method}.bin"
    rss_before = psutil.Process().memory_info().rss
    started = time.perf_counter()
    size = _download(method, url, key, attachment_id, dest)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    dest.unlink()
    print(json.dumps({"seconds": seconds, "bytes": size, "rss_before": rss_before, "peak": peak}))


if __name__ == "__main__":
    if sys.argv[1] != "client":
        raise SystemExit("usage: python -m benchmarks._download_parts client METHOD URL KEY ID DIR")
    client(*sys.argv[2:7])
