"""Benchmark 3: a 1 GiB output attachment streamed to disk.

`client.run_attachments.download` (ours) against a raw httpx stream of the same bytes from the
same server, with the in-memory download (`response.content`, the official SDK's way) beside
them. Each download runs in a fresh process (peak RSS is that process's `ru_maxrss`); the
emulator is another (`cyberdesk-emulator serve`), whose RSS is sampled during every download.
See `benchmarks/_download_parts.py` for how the file gets into the emulator.

Run: `.venvs/airflow/bin/python -m benchmarks.bench_download [--repeat 3] [--size-mib 1024]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._download_parts import RssSampler, add_attachment
from benchmarks._emulator import EmulatorProcess
from benchmarks._report import Row, emit, log, median, mib

METHODS = ("ours", "raw", "memory")


@dataclass
class Download:
    """One measured download."""

    seconds: float
    size: int
    rss_growth: float
    server_peak: float = 0.0

    @property
    def mib_per_s(self) -> float:
        """Throughput in MiB/s."""
        return mib(self.size) / self.seconds


def download(method: str, server: dict[str, str], dest_dir: str) -> Download:
    """Run one download in a fresh process."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks._download_parts",
            "client",
            method,
            server["url"],
            server["api_key"],
            server["id"],
            dest_dir,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return Download(data["seconds"], data["bytes"], data["peak"] - data["rss_before"])


def measure(size: int, repeat: int) -> tuple[float, dict[str, list[Download]]]:
    """The emulator's idle RSS and the downloads, each with the emulator's peak RSS meanwhile.

    `repeat` rounds of ours and raw (interleaved), plus one in-memory download.
    """
    seed = {"workflows": [{"name": "export", "behavior": {"duration": 0}}], "machines": [{}]}
    results: dict[str, list[Download]] = {m: [] for m in METHODS}
    with (
        EmulatorProcess(seed) as emu,
        tempfile.TemporaryDirectory(prefix="cyberdesk-bench-dl-") as dest_dir,
    ):
        started = time.perf_counter()
        attachment_id = add_attachment(emu, size, Path(dest_dir))
        log(f"attachment of {mib(size):.0f} MiB added in {time.perf_counter() - started:.1f}s")
        server = {"url": emu.url, "api_key": emu.api_key, "id": attachment_id}
        sampler = RssSampler(emu.pid)
        idle = float(sampler.rss())
        for rep in range(repeat):
            # The in-memory download is only shown beside ours: once is enough.
            for method in METHODS if rep == 0 else METHODS[:2]:
                with sampler.sampling():
                    result = download(method, server, dest_dir)
                result.server_peak = float(sampler.peak)
                if result.size != size:
                    raise RuntimeError(f"{method} downloaded {result.size} of {size} bytes")
                log(
                    f"download {method} #{rep + 1}: {result.mib_per_s:.0f} MiB/s, "
                    f"RSS +{mib(result.rss_growth):.1f} MiB; emulator peak "
                    f"{mib(result.server_peak):.0f} MiB (idle {mib(idle):.0f} MiB)"
                )
                results[method].append(result)
    return idle, results


def rows(size: int, idle: float, results: dict[str, list[Download]]) -> list[Row]:
    """Throughput ratio, client RSS growth (medians over the repeats), emulator RSS."""
    ours, raw, memory = results["ours"], results["raw"], results["memory"]
    server_peak = max(d.server_peak for runs in results.values() for d in runs)
    server_growth = mib(server_peak - idle)
    share = median(o.mib_per_s / r.mib_per_s for o, r in zip(ours, raw, strict=True))
    label = f"{mib(size) / 1024:g} GiB" if size >= 1 << 30 else f"{mib(size):g} MiB"
    rss_o = median(mib(o.rss_growth) for o in ours)
    rss_m = median(mib(m.rss_growth) for m in memory)
    return [
        Row(
            f"3 download {label} to disk: throughput vs raw httpx stream",
            ">= 70% of raw",
            f"ours {median(o.mib_per_s for o in ours):.0f} MiB/s vs raw "
            f"{median(r.mib_per_s for r in raw):.0f} MiB/s",
            f"{share * 100:.0f}%",
            share >= 0.70,
        ),
        Row(
            f"3 download {label} to disk: peak RSS growth",
            "<= 64 MiB",
            f"ours {rss_o:.1f} MiB; raw {median(mib(r.rss_growth) for r in raw):.1f} MiB",
            "-",
            rss_o <= 64.0,
        ),
        Row(
            f"3 download {label} in memory (official SDK way, response.content)",
            "(informational)",
            f"{median(m.mib_per_s for m in memory):.0f} MiB/s, peak RSS +{rss_m:.0f} MiB",
            f"{rss_m / max(rss_o, 0.1):.0f}x ours' RSS",
        ),
        Row(
            f"3 emulator serving the {label} download: peak RSS growth over idle",
            "<= 64 MiB",
            f"peak {mib(server_peak):.0f} MiB, idle {mib(idle):.0f} MiB (file-backed, streamed)",
            "-",
            server_growth <= 64.0,
        ),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure and print; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    size = args.size_mib * 1024 * 1024
    result = rows(size, *measure(size, args.repeat))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
