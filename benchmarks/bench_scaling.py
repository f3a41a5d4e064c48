"""Benchmark 6: the scaling curve, 100 / 1,000 / 10,000 concurrent waits in one event loop.

The waits of benchmark 2 at three sizes, each against the per-run polling baseline at the same
size: Airflow `CyberdeskRunTrigger`s rebuilt from `serialize()` and iterated as the triggerer
does, or the Prefect integration's async wait task body (`await_cyberdesk_run.fn`, given
a bare run id), each pass in a fresh worker process (`benchmarks/_phases.py`) against an
emulator of its own. A size's runs are one workflow's, created in bulks of 1,000 while the
emulator has no machine, so they stay queued; each pass goes through three phases:
start-up (until every run is polled), a steady window of three poll intervals (all runs
waiting), delivery (the parent adds a machine per run; the runs end 0.5-1.5 s later and
every wait returns). Reported per size: requests per poll tick in the steady window (the
emulator's admin stats read at the phase edges, divided by the polls the watcher made,
counted in the worker; the baseline's by the intervals), worker CPU seconds per phase, peak
RSS and its growth.

The baseline at 10,000 cannot start its loops on 2 cores in 20 s (the Airflow one looks its
connection up 10,000 times), so its phases are bounded (`LIMITS`): its steady window then
measures whatever polls meanwhile, and its delivery is cut after 15 s. The emulator holds
the 10,000 runs (`bench_emulator_capacity.py`).

Run: `.venvs/airflow/bin/python -m benchmarks.bench_scaling --engine airflow` and
`.venvs/prefect/bin/python -m benchmarks.bench_scaling --engine prefect` [--sizes 100,1000].
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from benchmarks._emulator import EmulatorProcess, cyberdesk_requests, seed_document, workflow_ids
from benchmarks._report import Row, emit, fmt_ratio, log, mib
from benchmarks.bench_triggerer import create_targets, start_worker, warm_up

SIZES = (100, 1000, 10000)
POLL_INTERVAL = 2.0
STEADY_TICKS = 3
TIME_SCALE = 60.0
# Simulated seconds once a machine is added: at TIME_SCALE 60 every run ends 0.5-1.5 s later.
RUN_DURATION = [30.0, 90.0]
# Bounds of the phases (seconds). The baseline at 10,000 cannot start its loops in 20 s on 2
# cores; its steady window then measures the loops that poll while the others still start.
LIMITS = {"ours": {"start": 60.0, "deliver": 30.0}, "base": {"start": 20.0, "deliver": 15.0}}
# The largest page `GET /v1/runs` serves.
PAGE_LIMIT = 1000
# Peak RSS of the worker holding 10,000 waits (the goal).
RSS_GOAL_MIB = 300.0


@dataclass
class Phases:
    """One worker's pass (its report, see `_phases.run_phases`) and the requests per phase."""

    requests: tuple[int, int, int]  # start-up, steady window, delivery
    runs: int
    ready: bool  # every run polled within the start-up bound
    polled: int
    start_seconds: float
    polled_seconds: float
    deliver_seconds: float
    cpu_start: float
    cpu_steady: float
    cpu_deliver: float
    steady_ticks: int | None  # polls in the steady window (ours; the baseline has none)
    rss_before: int
    rss_peak: int
    finished: int
    failed: int
    first_error: str | None
    full_gc: int

    @property
    def per_tick(self) -> float:
        """Steady requests per poll (ours) or per interval (baseline)."""
        ticks = self.steady_ticks or STEADY_TICKS
        return self.requests[1] / ticks

    @property
    def cpu_total(self) -> float:
        """CPU seconds over the three phases."""
        return self.cpu_start + self.cpu_steady + self.cpu_deliver


@dataclass
class Size:
    """Ours and the baseline at one size."""

    waits: int
    ours: Phases
    base: Phases

    def per_1000(self, seconds: float) -> float:
        """`seconds` per 1,000 waits."""
        return seconds * 1000 / self.waits


def _expect(proc: subprocess.Popen[str], word: str, errors: IO[bytes]) -> None:
    """Read the worker's stdout up to the line `word` (Airflow logs to stdout as well)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == word:
            return
    proc.kill()
    errors.seek(0)
    raise RuntimeError(f"worker ended before {word}: {errors.read().decode()[-2000:]}")


def _send(proc: subprocess.Popen[str], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def run_pass(engine: str, flavour: str, waits: int, home: str) -> Phases:
    """A fresh emulator without machines, the runs, one worker through the three phases.

    Each pass has an emulator of its own: the machines added for one pass's delivery would
    otherwise start the next pass's runs at once. The worker imports while it starts.
    """
    limits = LIMITS["base" if flavour == "baseline" else "ours"]
    emu = EmulatorProcess(
        seed_document({"scale": {"duration": RUN_DURATION}}, 0), time_scale=TIME_SCALE
    )
    with tempfile.TemporaryFile() as errors:
        proc = start_worker("benchmarks._phases", engine, flavour, emu, home, errors)
        try:
            with emu:
                targets = create_targets(emu, workflow_ids(emu)["scale"], waits)
                _expect(proc, "READY", errors)
                emu.admin.reset_stats()
                spec = {
                    "url": emu.url,
                    "api_key": emu.api_key,
                    "interval": POLL_INTERVAL,
                    "steady_ticks": STEADY_TICKS,
                    "limits": limits,
                    "targets": targets,
                }
                _send(proc, json.dumps(spec))
                _expect(proc, "STEADY", errors)
                at_steady = cyberdesk_requests(emu.admin.stats())
                _expect(proc, "DELIVER", errors)
                at_deliver = cyberdesk_requests(emu.admin.stats())
                emu.admin.seed({"machines": seed_document({}, waits)["machines"]})
                _send(proc, "GO")
                out, _ = proc.communicate(timeout=sum(limits.values()) + 120)
                total = cyberdesk_requests(emu.admin.stats())
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"worker failed: {errors.read().decode()[-2000:]}")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return Phases((at_steady, at_deliver - at_steady, total - at_deliver), **report)


def measure(engine: str, sizes: tuple[int, ...]) -> list[Size]:
    """Ours then the baseline at each size, each pass with an emulator of its own."""
    results: list[Size] = []
    with tempfile.TemporaryDirectory() as home:
        # The emulators inherit this: one compiles its modules once, the others load bytecode
        # (this machine sets PYTHONDONTWRITEBYTECODE; 2.5 s of start-up per pass otherwise).
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
        # Fills the bytecode cache of the workers (only the emulator's address is used).
        unstarted = EmulatorProcess({})
        warm_up(unstarted, engine, home)
        unstarted.stop()
        for n in sizes:
            passes: dict[str, Phases] = {}
            for mode, flavour in (("ours", engine), ("base", "baseline")):
                result = run_pass(engine, flavour, n, home)
                log(
                    f"scaling {engine} {mode} {n}: start {result.start_seconds:.1f}s "
                    f"(cpu {result.cpu_start:.2f}s, {result.requests[0]} requests"
                    f"{'' if result.ready else f', only {result.polled} polled'}); steady cpu "
                    f"{result.cpu_steady:.2f}s, {result.requests[1]} requests in "
                    f"{result.steady_ticks} ticks; deliver {result.deliver_seconds:.1f}s (cpu "
                    f"{result.cpu_deliver:.2f}s, {result.requests[2]} requests); rss peak "
                    f"{mib(result.rss_peak):.0f} MiB (+{_growth(result):.0f}); "
                    f"{result.finished} finished, {result.failed} failed, {result.full_gc} full GC"
                    + (f" ({result.first_error})" if result.first_error else "")
                )
                passes[mode] = result
            results.append(Size(n, passes["ours"], passes["base"]))
    return results


def rows(engine: str, results: list[Size]) -> list[Row]:
    """Per size: requests per tick, CPU, start-up and delivery, RSS; then the three goals."""
    label = "Airflow triggers" if engine == "airflow" else "Prefect async waits"
    out: list[Row] = []
    for size in results:
        o, b = size.ours, size.base
        name = f"6 scaling: {size.waits:,} {label}"
        window = f"{STEADY_TICKS} intervals of {POLL_INTERVAL:g} s"
        out += [
            Row(
                f"{name}: requests per poll tick, all waiting",
                "flat in runs",
                f"ours {o.per_tick:.1f} ({o.requests[1]} in {o.steady_ticks} ticks) vs "
                f"baseline {b.per_tick:.0f} per interval (asked {size.waits:,}"
                + (")" if b.ready else f"; still starting: {b.polled:,} loops had polled)"),
                fmt_ratio(b.per_tick, o.per_tick) if b.per_tick else "-",
            ),
            Row(
                f"{name}: CPU seconds in the steady window ({window})",
                "(informational)",
                f"ours {o.cpu_steady:.2f} s ({size.per_1000(o.cpu_steady):.3f} per 1,000) vs "
                f"baseline {b.cpu_steady:.2f} s",
                fmt_ratio(b.cpu_steady, o.cpu_steady),
            ),
            Row(
                f"{name}: start-up (until every run is polled) and delivery",
                "(informational)",
                f"ours {_phase_text(o)} vs baseline {_phase_text(b)}",
                fmt_ratio(b.cpu_total, o.cpu_total) if b.ready else "-",
            ),
            Row(
                f"{name}: worker RSS peak (growth over the worker before the waits)",
                "(informational)",
                f"ours {mib(o.rss_peak):.0f} MiB (+{_growth(o):.0f}) vs baseline "
                f"{mib(b.rss_peak):.0f} MiB (+{_growth(b):.0f})",
                fmt_ratio(_growth(b), _growth(o)),
            ),
        ]
    return out + goals(label, results)


def _growth(side: Phases) -> float:
    return mib(side.rss_peak - side.rss_before)


def _phase_text(side: Phases) -> str:
    if not side.ready:
        return (
            f"cut at {side.start_seconds:.0f} s with {side.polled:,} loops polled "
            f"({side.requests[0]:,} requests, CPU {side.cpu_start:.2f} s), delivery not measured"
        )
    return (
        f"all polled in {side.polled_seconds:.1f} s ({side.requests[0]:,} requests), delivered "
        f"{side.finished:,} in {side.deliver_seconds:.1f} s, CPU {side.cpu_start:.2f} + "
        f"{side.cpu_deliver:.2f} s"
    )


def goals(label: str, results: list[Size]) -> list[Row]:
    """Requests per tick flat, CPU per 1,000 waits not growing, 10,000 waits in 300 MiB."""
    sizes = "/".join(f"{s.waits:,}" for s in results)
    ticks = [s.ours.per_tick for s in results]
    totals = [s.per_1000(s.ours.cpu_total) for s in results]
    steady = [s.per_1000(s.ours.cpu_steady) for s in results]
    last = results[-1]
    # Noise allowance: the figures of one pass each move by some 20% on this machine.
    cpu_ok = len(results) < 2 or totals[-1] <= 1.25 * totals[-2]
    return [
        Row(
            f"6 scaling {label}: requests per tick at {sizes} waits",
            "flat (per workflow, not per run)",
            " / ".join(f"{t:.1f}" for t in ticks)
            + f": one list page per {PAGE_LIMIT:,} runs of a workflow (the API's largest page)",
            "-",
            ticks[-1] <= ticks[0],
        ),
        Row(
            f"6 scaling {label}: CPU s per 1,000 waits (start-up + steady + delivery) at {sizes}",
            "does not grow with the total",
            " / ".join(f"{t:.2f}" for t in totals)
            + " (steady window alone: "
            + " / ".join(f"{t:.3f}" for t in steady)
            + ")",
            "-",
            cpu_ok,
        ),
        Row(
            f"6 scaling {label}: worker peak RSS holding {last.waits:,} waits",
            f"<= {RSS_GOAL_MIB:g} MiB",
            f"{mib(last.ours.rss_peak):.0f} MiB (+{_growth(last.ours):.0f} for the waits)",
            "-",
            mib(last.ours.rss_peak) <= RSS_GOAL_MIB,
        ),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure and print; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=("airflow", "prefect"), required=True)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    sizes = tuple(sorted(int(s) for s in args.sizes.split(",")))
    result = rows(args.engine, measure(args.engine, sizes))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
