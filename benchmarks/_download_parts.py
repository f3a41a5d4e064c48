"""The two processes of benchmark 3.

`server SIZE`: an emulator (`EmulatorServer`, in this process) holding one output attachment of
SIZE bytes. The emulator keeps attachment bytes in memory and the public ways to add one (a
base64 JSON upload, a behaviour template) cannot carry 1 GiB, so the file is put into the
emulator's store directly: one run is created through the API, then an `Attachment` whose
content repeats a 1 MiB pseudo-random block is attached to it. Prints one JSON line with the
URL, API key and attachment id, then serves until stdin closes.

`client METHOD URL KEY ATTACHMENT DEST`: one download in a fresh process, reporting seconds,
bytes, RSS before and peak RSS (`ru_maxrss`). Methods: `ours` (`run_attachments.download`),
`raw` (an httpx stream written chunk by chunk) and `memory` (`response.content`, the official
SDK's way). All three end with the bytes on disk and fsynced, so they do the same work.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from pathlib import Path

import httpx
import psutil

BLOCK = 1024 * 1024


def serve(size: int) -> None:
    """Run an emulator holding one attachment of `size` bytes until stdin closes."""
    from cyberdesk_core import CyberdeskClient
    from cyberdesk_emulator import EmulatorServer
    from cyberdesk_emulator.state import Attachment, new_id

    seed = {"workflows": [{"name": "export", "behavior": {"duration": 0}}], "machines": [{}]}
    with EmulatorServer(seed=seed) as server:
        with CyberdeskClient(server.api_key, base_url=server.url) as client:
            workflow = client.workflows.list().items[0]
            run = client.runs.create(workflow.id)
        block = random.Random(7).randbytes(BLOCK)
        data = block * (size // BLOCK) + block[: size % BLOCK]
        store = server.emulator.store
        att = Attachment(
            id=new_id(),
            org_id=store.runs[run.id].org_id,
            run_id=run.id,
            filename="ledger-export.bin",
            content_type="application/octet-stream",
            attachment_type="output",
            data=data,
        )
        store.attachments[att.id] = att
        store.runs[run.id].output_attachment_ids.append(att.id)
        print(json.dumps({"url": server.url, "api_key": server.api_key, "id": att.id}), flush=True)
        sys.stdin.read()


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
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        client(*sys.argv[2:7])
