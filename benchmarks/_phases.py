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
CPU seconds (`getrusage`, the whole process) are taken per phase and RSS is sampled every
0.1 s, by a thread of its own so that the bounds hold while the event loop is starved.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from benchmarks._waiters import FLAVOURS, _cpu_seconds, preload

# How often the driver samples RSS and looks at the polls and the waits.
CHECK_SECONDS = 0.1


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


class Driver:
    """Times the phases from a thread of its own, so that their bounds hold even while the
    event loop is starved (the baseline at 10,000), and samples RSS meanwhile."""

    def __init__(self, spec: dict[str, Any], ticks: Ticks | None) -> None:
        self.spec = spec
        self.ticks = ticks
        self.runs = len(spec["targets"])
        self.proc = psutil.Process()
        self.rss_before = self.proc.memory_info().rss
        self.peak = self.rss_before
        self.polled = 0  # baseline loops that made their first GET (updated by the loop)
        self.done = 0
        self.failed: list[BaseException] = []

    def first_poll(self) -> None:
        """Called by each baseline loop after its first GET."""
        self.polled += 1

    def finished(self, task: asyncio.Task[object]) -> None:
        """Done-callback of every wait."""
        self.done += 1
        if not task.cancelled() and task.exception() is not None:
            self.failed.append(task.exception())  # type: ignore[arg-type]

    def _wait(self, condition: Callable[[], bool], until: float) -> bool:
        """Sample RSS until `condition` holds (True) or the time `until` comes (False)."""
        while not condition():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            if time.perf_counter() >= until:
                return False
            time.sleep(CHECK_SECONDS)
        return True

    def _sleep_until(self, until: float) -> None:
        self._wait(lambda: time.perf_counter() >= until, until)

    def _covered(self) -> bool:
        ticks = self.ticks
        if ticks is None:
            return self.polled >= self.runs
        # A poll covering every run, then the next one (see `run`).
        i = ticks.covering(self.runs)
        return i is not None and len(ticks.started) > i + 1

    def run(self, started: float, cpu_before: float, full_gc_before: int) -> None:
        """Drive the phases, print the report and end the process."""
        spec, ticks, limits = self.spec, self.ticks, self.spec["limits"]
        interval = spec["interval"]
        cpu = [cpu_before]
        ready = self._wait(self._covered, started + limits["start"])
        polled_at = steady_from = time.perf_counter()
        if ticks is not None:
            covering = ticks.covering(self.runs)
            if covering is not None:
                polled_at = ticks.started[covering][0]
            if ready and covering is not None:
                # Half an interval after a poll began: no poll straddles the window's edges.
                steady_from = ticks.started[covering + 1][0] + interval / 2
                self._sleep_until(steady_from)
        covered = self.polled if ticks is None else max((n for _, n in ticks.started), default=0)
        cpu.append(_cpu_seconds())
        _say("STEADY")
        steady_to = steady_from + spec["steady_ticks"] * interval
        self._sleep_until(steady_to)
        cpu.append(_cpu_seconds())
        _say("DELIVER")
        sys.stdin.readline()  # the parent has added the machines
        deliver_from = time.perf_counter()
        if ready:
            # Skipped when start-up was cut: loops that never polled would report runs that
            # ended before their first GET as delivered.
            self._wait(lambda: self.done >= self.runs, deliver_from + limits["deliver"])
        deliver_seconds = time.perf_counter() - deliver_from
        cpu.append(_cpu_seconds())
        failed = list(self.failed)
        report = {
            "runs": self.runs,
            "ready": ready,
            "polled": covered,
            "start_seconds": steady_from - started,
            "polled_seconds": polled_at - started,
            "deliver_seconds": deliver_seconds,
            "cpu_start": cpu[1] - cpu[0],
            "cpu_steady": cpu[2] - cpu[1],
            "cpu_deliver": cpu[3] - cpu[2],
            "steady_ticks": ticks.between(steady_from, steady_to) if ticks else None,
            "rss_before": self.rss_before,
            "rss_peak": max(self.peak, self.proc.memory_info().rss),
            "finished": self.done - len(failed),
            "failed": len(failed),
            "first_error": repr(failed[0]) if failed else None,
            "full_gc": gc.get_stats()[2]["collections"] - full_gc_before,
        }
        _say(json.dumps(report))
        # Everything is measured: closing what is left (10,000 baseline clients) would only
        # add wall time to `make bench`.
        os._exit(0)


def _say(line: str) -> None:
    print(line, flush=True)


async def run_phases(spec: dict[str, Any], ticks: Ticks | None) -> None:
    """Start every wait and hand the timing to a `Driver` thread (which ends the process)."""
    driver = Driver(spec, ticks)
    spec["on_first_poll"] = driver.first_poll
    full_gc_before = gc.get_stats()[2]["collections"]
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    thread = threading.Thread(
        target=driver.run, args=(started, cpu_before, full_gc_before), daemon=True
    )
    thread.start()
    tasks = [asyncio.ensure_future(factory()) for factory in FLAVOURS[spec["flavour"]](spec)]
    for task in tasks:
        task.add_done_callback(driver.finished)
    await asyncio.Event().wait()  # `tasks` stay referenced until the driver ends the process


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
