"""Benchmark 5b: the emulator holds 10,000 runs.

Creates 10 bulks of 1,000 runs (10 workflows, no machines, so every run stays queued and the
scheduler holds all of them), lists all of them back page by page (limit 1,000) and reports the
emulator process's RSS growth and the time each step took. The emulator runs in its own
process (`cyberdesk-emulator serve`); its RSS is read with psutil.

Run: `.venvs/airflow/bin/python -m benchmarks.bench_emulator_capacity`.
"""

from __future__ import annotations

import argparse
import time

import psutil

from benchmarks._emulator import EmulatorProcess, seed_document, workflow_ids
from benchmarks._report import Row, emit, log, median, mib
from cyberdesk_core import CyberdeskClient

BULKS = 10
PER_BULK = 1000


def measure() -> dict[str, float]:
    """Create, list and measure."""
    seed = seed_document({f"capacity-{i}": {"duration": 60} for i in range(BULKS)}, 0)
    with EmulatorProcess(seed) as emu:
        ids = workflow_ids(emu)
        server = psutil.Process(emu.pid)
        rss_before = server.memory_info().rss
        create_times: list[float] = []
        with CyberdeskClient(emu.api_key, base_url=emu.url, timeout=120) as client:
            for i in range(BULKS):
                started = time.perf_counter()
                created = client.runs.bulk_create(ids[f"capacity-{i}"], PER_BULK)
                create_times.append(time.perf_counter() - started)
                assert len(created.created_runs) == PER_BULK
            started = time.perf_counter()
            listed = sum(1 for _ in client.runs.iter(page_size=1000))
            list_seconds = time.perf_counter() - started
            started = time.perf_counter()
            one = client.runs.list(workflow_id=ids["capacity-9"], fields=["ended_at"], limit=1000)
            group_seconds = time.perf_counter() - started
            assert len(one.items) == PER_BULK
        rss_after = server.memory_info().rss
    log(
        f"capacity: listed {listed} runs in {list_seconds:.2f}s; RSS "
        f"+{mib(rss_after - rss_before):.0f} MiB"
    )
    return {
        "listed": float(listed),
        "list_seconds": list_seconds,
        "group_seconds": group_seconds,
        "create_p50": median(create_times),
        "rss_growth": float(rss_after - rss_before),
        "rss_after": float(rss_after),
    }


def rows(result: dict[str, float]) -> list[Row]:
    """One row: holds them all, with memory and timings."""
    total = BULKS * PER_BULK
    per_run_kib = result["rss_growth"] / 1024 / total
    return [
        Row(
            f"5 emulator holds {total:,} runs (10 bulks of 1,000, all listed back)",
            f"{total:,} listed",
            f"{result['listed']:.0f} listed in {result['list_seconds']:.2f} s; "
            f"RSS +{mib(result['rss_growth']):.0f} MiB ({per_run_kib:.1f} KiB/run, "
            f"{mib(result['rss_after']):.0f} MiB total); bulk of 1,000 "
            f"{result['create_p50'] * 1000:.0f} ms; list 1,000 of one workflow "
            f"{result['group_seconds'] * 1000:.0f} ms",
            "-",
            result["listed"] == total,
        )
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure and print; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    result = rows(measure())
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
