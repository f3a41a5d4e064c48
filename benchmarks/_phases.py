"""The waiting side of benchmark 6 (scaling), run in a fresh worker process per pass.

The waits are those of benchmark 2 (`_waiters.FLAVOURS`: Airflow triggers rebuilt from their
serialized kwargs, the Prefect async wait task body, or the per-run polling baseline), taken
through three phases; the worker prints a line as each one ends so that the parent can read
the emulator's request counters at the same moments:
- start-up (bounded by `limits.start`): until every run is polled. Ours: a `RunWatcher` poll
  has covered all of them, then the next poll has begun. Baseline: every loop made its first
  GET. The runs are queued (the emulator has no machine yet), so none changes.
- `STEADY`: a fixed window of `steady_ticks` intervals. Ours starts it half an interval after
  a poll began, so it holds exactly that many polls.
- `DELIVER`: the parent adds a machine per run; the runs end within a few seconds and every
  wait delivers its result (bounded by `limits.deliver`; skipped when start-up was cut).
CPU seconds (`getrusage`) are taken per phase, RSS is sampled every 0.1 s throughout.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil

from benchmarks._waiters import FLAVOURS, RSS_SAMPLE_SECONDS, _cpu_seconds, preload

# How often the phase logic looks at the polls and the waits.
CHECK_SECONDS = 0.05


class Ticks:
    """When each `RunWatcher` poll began and how many runs it covered (ours only)."""

    def __init__(self) -> None:
        self.started: list[tuple[float, int]] = []

    def install(self) -> None:
        """Wrap the class's `_tick`: one append per poll, on whichever thread it runs."""
        from cyberdesk_core.watcher import RunWatcher

        tick = RunWatcher._tick
        started = self.started

        async def counted(self: RunWatcher) -> None:
            started.append((time.perf_counter(), len(self._runs)))
            await tick(self)

        RunWatcher._tick = counted  # type: ignore[method-assign]

    def covering(self, runs: int) -> int | None:
        """Index of the first poll that covered `runs` runs."""
        return next((i for i, (_, n) in enumerate(self.started) if n >= runs), None)

    def between(self, start: float, end: float) -> int:
        """Polls begun within [start, end]."""
        return sum(1 for t, _ in self.started if start <= t <= end)


async def _until(condition: Callable[[], bool], deadline: float) -> bool:
    while not condition():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(CHECK_SECONDS)
    return True


def _say(line: str) -> None:
    print(line, flush=True)


async def run_phases(spec: dict[str, Any], ticks: Ticks | None) -> None:
    """Start-up, steady window, delivery; prints CPU per phase and peak RSS, then exits."""
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    peak = rss_before
    runs = len(spec["targets"])
    interval = spec["interval"]

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    polled = [0]  # baseline loops that made their first GET

    def first_poll() -> None:
        polled[0] += 1

    spec["on_first_poll"] = first_poll
    full_gc_before = gc.get_stats()[2]["collections"]
    cpu = [_cpu_seconds()]
    started = time.perf_counter()
    sampler = asyncio.ensure_future(sample())
    tasks = [asyncio.ensure_future(factory()) for factory in FLAVOURS[spec["flavour"]](spec)]

    # Start-up: over once every run is polled; the steady window begins right after.
    start_limit = started + spec["limits"]["start"]
    if ticks is None:
        ready = await _until(lambda: polled[0] >= runs, start_limit)
        polled_at = steady_from = time.perf_counter()
    else:
        # A poll covering every run, then the next one: the window starts half an interval
        # after that one began, so that no poll straddles its edges.
        ready = await _until(
            lambda: (i := ticks.covering(runs)) is not None and len(ticks.started) > i + 1,
            start_limit,
        )
        covering = ticks.covering(runs)
        polled_at = ticks.started[covering][0] if covering is not None else time.perf_counter()
        following = ticks.started[covering + 1][0] if ready and covering is not None else None
        steady_from = (following or time.perf_counter()) + interval / 2
        await asyncio.sleep(max(0.0, steady_from - time.perf_counter()))
    start_seconds = steady_from - started
    covered = polled[0] if ticks is None else max((n for _, n in ticks.started), default=0)
    cpu.append(_cpu_seconds())
    _say("STEADY")

    steady_to = steady_from + spec["steady_ticks"] * interval
    await asyncio.sleep(max(0.0, steady_to - time.perf_counter()))
    cpu.append(_cpu_seconds())
    _say("DELIVER")
    await asyncio.to_thread(sys.stdin.readline)  # the parent has added the machines

    deliver_from = time.perf_counter()
    if ready:
        # Skipped when start-up hit its bound: loops that never polled would report runs that
        # ended before their first GET as "delivered".
        await asyncio.wait(tasks, timeout=spec["limits"]["deliver"])
    deliver_seconds = time.perf_counter() - deliver_from
    cpu.append(_cpu_seconds())
    sampler.cancel()
    peak = max(peak, proc.memory_info().rss)
    done = [t for t in tasks if t.done()]
    failed = [t for t in done if not t.cancelled() and t.exception() is not None]
    result = {
        "runs": runs,
        "ready": ready,
        "polled": covered,
        "start_seconds": start_seconds,
        "polled_seconds": polled_at - started,
        "deliver_seconds": deliver_seconds,
        "cpu_start": cpu[1] - cpu[0],
        "cpu_steady": cpu[2] - cpu[1],
        "cpu_deliver": cpu[3] - cpu[2],
        "steady_ticks": ticks.between(steady_from, steady_to) if ticks else None,
        "rss_before": rss_before,
        "rss_peak": peak,
        "finished": len(done) - len(failed),
        "failed": len(failed),
        "first_error": repr(failed[0].exception()) if failed else None,
        "full_gc": gc.get_stats()[2]["collections"] - full_gc_before,
    }
    _say(json.dumps(result))
    # Everything is measured: closing what is left (10,000 baseline clients) would only add
    # wall time to `make bench`.
    os._exit(0)


def worker(engine: str, flavour: str) -> None:
    """Import everything, say READY, read the spec from stdin, run the phases, print JSON."""
    preload(engine)
    if flavour == "warmup":
        return
    ticks = None
    if flavour != "baseline":
        ticks = Ticks()
        ticks.install()
    _say("READY")
    spec = json.loads(sys.stdin.readline())
    spec["engine"] = engine
    spec["flavour"] = flavour
    # From a collected heap, as in benchmark 2 (see `_waiters.worker`).
    gc.collect()
    asyncio.run(run_phases(spec, ticks))


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
