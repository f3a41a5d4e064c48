"""Benchmark 2: triggerer load (Airflow) and concurrent async waits (Prefect).

1,000 waits in one event loop for a fixed window against the emulator (its own process), versus
1,000 naive loops that each GET their run once per interval. Each pass runs
in a fresh worker process (see `benchmarks/_waiters.py`), which reports its CPU seconds and RSS;
the emulator's admin stats give the requests. The runs end inside the window, so every wait
also delivers its event / result.

Run: `.venvs/airflow/bin/python -m benchmarks.bench_triggerer --engine airflow` and
`.venvs/prefect/bin/python -m benchmarks.bench_triggerer --engine prefect`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import httpx

from benchmarks._emulator import EmulatorProcess, cyberdesk_requests, seed_document, workflow_ids
from benchmarks._report import Row, emit, fmt_ratio, log, median, mib

WAITS = 1000
POLL_INTERVAL = 2.0
WINDOW = 12.0
TIME_SCALE = 60.0
# Simulated seconds: with TIME_SCALE 60 the runs end 4 to 9 s into the 12 s window.
RUN_DURATION = [240.0, 540.0]
WORKER_START_TIMEOUT = 180.0
# The most runs one `POST /v1/runs/bulk` creates.
BULK_LIMIT = 1000


@dataclass
class Pass:
    """What one worker process measured."""

    cpu_seconds: float
    rss_growth: float
    rss_peak: float
    requests: int
    finished: int
    failed: int
    first_error: str | None
    imported_in_window: int
    full_gc: int


def worker_env(engine: str, emu: EmulatorProcess, home: str) -> dict[str, str]:
    """Environment of a worker: the Airflow connection, or Prefect without any API server.

    Bytecode goes to a private cache (filled by a warm-up worker first), as a long-running
    triggerer or worker would have it: this machine sets PYTHONDONTWRITEBYTECODE, which would
    make every worker compile Airflow or Prefect from source.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
    if engine == "airflow":
        conn = {"conn_type": "cyberdesk", "host": emu.url, "password": emu.api_key}
        env["AIRFLOW_CONN_CYBERDESK_DEFAULT"] = json.dumps(conn)
        env["AIRFLOW_HOME"] = home
        env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    else:
        # No API: status events have nowhere to go and logs use the module logger.
        env["PREFECT_HOME"] = home
        env["PREFECT_API_URL"] = ""
        env["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def create_targets(emu: EmulatorProcess, workflow_id: str, count: int) -> list[dict[str, str]]:
    """`count` runs of the workflow (bulks of 1,000), with the hints a caller has for each."""
    with httpx.Client(
        base_url=emu.url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=60
    ) as http:
        created = [
            run
            for start in range(0, count, BULK_LIMIT)
            for run in http.post(
                "/v1/runs/bulk",
                json={"workflow_id": workflow_id, "count": min(BULK_LIMIT, count - start)},
            ).json()["created_runs"]
        ]
    return [
        {"run_id": r["id"], "workflow_id": r["workflow_id"], "created_at": r["created_at"]}
        for r in created
    ]


def start_worker(
    module: str, engine: str, flavour: str, emu: EmulatorProcess, home: str, errors: IO[bytes]
) -> subprocess.Popen[str]:
    """A worker process (`_waiters` or `_phases`) talking over its stdin and stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", module, engine, flavour],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        env=worker_env(engine, emu, home),
        text=True,
    )


def run_pass(emu: EmulatorProcess, workflow_id: str, engine: str, flavour: str, home: str) -> Pass:
    """Start a worker, create the runs once it is ready, let it wait for one window."""
    with tempfile.TemporaryFile() as errors:
        proc = start_worker("benchmarks._waiters", engine, flavour, emu, home, errors)
        assert proc.stdin is not None
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "READY":
            proc.kill()
            errors.seek(0)
            raise RuntimeError(f"worker failed to start: {errors.read().decode()[-2000:]}")
        targets = create_targets(emu, workflow_id, WAITS)
        emu.admin.reset_stats()
        spec = {
            "url": emu.url,
            "api_key": emu.api_key,
            "interval": POLL_INTERVAL,
            "window": WINDOW,
            "targets": targets,
        }
        out, _ = proc.communicate(json.dumps(spec) + "\n", timeout=WINDOW + 120)
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"worker failed: {errors.read().decode()[-2000:]}")
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return Pass(
        cpu_seconds=data["cpu_seconds"],
        rss_growth=data["rss_peak"] - data["rss_before"],
        rss_peak=data["rss_peak"],
        requests=cyberdesk_requests(emu.admin.stats()),
        finished=data["finished"],
        failed=data["failed"],
        first_error=data["first_error"],
        imported_in_window=len(data.get("imported_in_window", [])),
        full_gc=data["full_gc"],
    )


def warm_up(emu: EmulatorProcess, engine: str, home: str) -> None:
    """One worker that only imports, so that every pass finds its bytecode cached."""
    subprocess.run(
        [sys.executable, "-m", "benchmarks._waiters", engine, "warmup"],
        check=True,
        capture_output=True,
        env=worker_env(engine, emu, home),
        timeout=WORKER_START_TIMEOUT,
    )


def measure(engine: str, repeat: int) -> dict[str, list[Pass]]:
    """`repeat` passes of ours and of the baseline, alternating, one emulator."""
    modes = (engine, f"{engine}-quiet", "baseline")
    names = [f"{mode}-{rep}" for rep in range(repeat) for mode in modes]
    seed = seed_document({n: {"duration": RUN_DURATION} for n in names}, WAITS)
    results: dict[str, list[Pass]] = {mode: [] for mode in modes}
    with EmulatorProcess(seed, time_scale=TIME_SCALE) as emu, tempfile.TemporaryDirectory() as home:
        ids = workflow_ids(emu)
        warm_up(emu, engine, home)
        for rep in range(repeat):
            for mode in modes:
                result = run_pass(emu, ids[f"{mode}-{rep}"], engine, mode, home)
                log(
                    f"{engine} waits {mode} #{rep + 1}: cpu {result.cpu_seconds:.2f}s, "
                    f"rss +{mib(result.rss_growth):.0f} MiB, {result.requests} requests, "
                    f"{result.finished} finished, {result.failed} failed, "
                    f"{result.full_gc} full GC passes and "
                    f"{result.imported_in_window} modules imported in the window"
                    + (f" ({result.first_error})" if result.first_error else "")
                )
                results[mode].append(result)
    return results


def rows(engine: str, results: dict[str, list[Pass]]) -> list[Row]:
    """CPU ratio, RSS growth and requests (medians over the repeats)."""
    ours, base = results[engine], results["baseline"]
    quiet = results[f"{engine}-quiet"]
    label = "Airflow triggers" if engine == "airflow" else "Prefect async waits"
    ratio = median(
        b.cpu_seconds / max(o.cpu_seconds, 1e-9) for o, b in zip(ours, base, strict=True)
    )
    cpu_o = median(o.cpu_seconds for o in ours)
    cpu_b = median(b.cpu_seconds for b in base)
    rss_o = median(mib(o.rss_growth) for o in ours)
    rss_b = median(mib(b.rss_growth) for b in base)
    req_o = median(o.requests for o in ours)
    req_b = median(b.requests for b in base)
    done_o = min(o.finished for o in ours)
    window = f"{WAITS:,} {label}, {WINDOW:g} s window, interval {POLL_INTERVAL:g} s"
    return [
        Row(
            f"2 {label}: client CPU seconds ({window})",
            "baseline/ours >= 10",
            f"ours {cpu_o:.2f} s vs baseline {cpu_b:.2f} s ({done_o} of {WAITS} done)",
            f"{ratio:.1f}x",
            ratio >= 10.0,
        ),
        Row(
            f"2 {label}: peak RSS growth",
            "<= 150 MB",
            f"ours {rss_o:.0f} MiB vs baseline {rss_b:.0f} MiB",
            fmt_ratio(rss_b, rss_o),
            rss_o * 1024 * 1024 <= 150e6,
        ),
        Row(
            f"2 {label}: requests in the window",
            "(informational)",
            f"ours {req_o:.0f} vs baseline {req_b:.0f}",
            fmt_ratio(req_b, req_o),
        ),
        live_steps_row(label, ours, quiet),
    ]


def live_steps_row(label: str, live: list[Pass], quiet: list[Pass]) -> Row:
    """Live steps on (the default) against `live_steps=False`: CPU and peak RSS growth."""
    cpu = median(
        lv.cpu_seconds / max(q.cpu_seconds, 1e-9) for lv, q in zip(live, quiet, strict=True)
    )
    rss_on = median(mib(lv.rss_growth) for lv in live)
    rss_off = median(mib(q.rss_growth) for q in quiet)
    rss = rss_on / max(rss_off, 1e-9)
    return Row(
        f"2 {label}: live steps on vs off",
        "CPU and RSS on/off <= 1.10",
        f"on {median(lv.cpu_seconds for lv in live):.2f} s, {rss_on:.0f} MiB, "
        f"{median(lv.requests for lv in live):.0f} req; off "
        f"{median(q.cpu_seconds for q in quiet):.2f} s, {rss_off:.0f} MiB, "
        f"{median(q.requests for q in quiet):.0f} req",
        f"cpu {cpu:.2f}x, rss {rss:.2f}x",
        cpu <= 1.10 and rss <= 1.10,
    )


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure and print; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=("airflow", "prefect"), required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    result = rows(args.engine, measure(args.engine, args.repeat))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
