"""Benchmark 4: import cost.

Each figure is the median over fresh interpreters of the time one import statement takes in
that interpreter (`time.perf_counter` around the import; interpreter start-up excluded). The
engine's own import is measured in the same run and subtracted; runs alternate between ours and
the engine's so background load hits both alike. Bytecode is cached in a private temporary
`PYTHONPYCACHEPREFIX` and one warm-up run per statement fills it, as a DAG processor or a
Prefect worker would have it.

The figure is the median of the paired differences; as a cross-check, one `-X importtime`
run of each statement gives the own import time of the modules only ours loads.

Run: `.venvs/airflow/bin/python -m benchmarks.bench_imports --engine airflow` (Airflow and
`cyberdesk_core`) and `.venvs/prefect/bin/python -m benchmarks.bench_imports --engine prefect`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

from benchmarks._report import Row, emit, log, median

PROBE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
PAIRS = {
    "airflow": ("import cyberdesk_airflow.operators", "import airflow.sdk"),
    "prefect": ("import cyberdesk_prefect", "import prefect"),
}
CORE = "import cyberdesk_core"
CORE_CLIENTS = "from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, RunWatcher"


def import_seconds(stmt: str, env: dict[str, str]) -> float:
    """Seconds `stmt` takes in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    ).stdout
    return float(out.strip().splitlines()[-1])


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)")


def module_self_times(stmt: str, env: dict[str, str]) -> dict[str, float]:
    """Module -> own import seconds, from `python -X importtime` (one fresh interpreter)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", stmt],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    ).stderr
    return {m.group(2): int(m.group(1)) / 1e6 for m in _IMPORTTIME.finditer(err)}


def probe_env(home: str) -> dict[str, str]:
    """Environment with a private bytecode cache and engine homes in a temporary directory."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(home, "pycache")
    env["AIRFLOW_HOME"] = os.path.join(home, "airflow")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["PREFECT_HOME"] = os.path.join(home, "prefect")
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return env


def measure(engine: str, runs: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """`runs` timings of each statement (after one warm-up each), interleaved, and the own
    import time of each module that ours loads beyond the engine's (`-X importtime`)."""
    ours, theirs = PAIRS[engine]
    stmts = [ours, theirs] + ([CORE, CORE_CLIENTS] if engine == "airflow" else [])
    times: dict[str, list[float]] = {s: [] for s in stmts}
    with tempfile.TemporaryDirectory(prefix="cyberdesk-bench-imports-") as home:
        env = probe_env(home)
        for stmt in stmts:
            import_seconds(stmt, env)
        for n in range(runs):
            for stmt in stmts:
                times[stmt].append(import_seconds(stmt, env))
            log(f"imports {engine} run {n + 1}/{runs}")
        engine_modules = module_self_times(theirs, env)
        extra = {
            name: seconds
            for name, seconds in module_self_times(ours, env).items()
            if name not in engine_modules
        }
    return times, extra


def rows(engine: str, times: dict[str, list[float]], extra: dict[str, float]) -> list[Row]:
    """Differences (ours minus the engine) and the absolute core figure, in ms."""
    ours, theirs = PAIRS[engine]
    ms_ours = median(times[ours]) * 1000
    ms_theirs = median(times[theirs]) * 1000
    # Runs alternate, so the difference of each consecutive pair cancels slow load drifts.
    diff = median((o - t) * 1000 for o, t in zip(times[ours], times[theirs], strict=True))
    own = sum(extra.values()) * 1000
    out = [
        Row(
            f"4 import cost: `{ours}` minus `{theirs}`",
            "<= 50 ms",
            f"{diff:+.0f} ms (median of {len(times[ours])} paired runs; {ms_ours:.0f} vs "
            f"{ms_theirs:.0f} ms); -X importtime: {len(extra)} extra modules, {own:.0f} ms own",
            f"{ms_ours / ms_theirs:.2f}x engine" if ms_theirs else "-",
            diff <= 50.0,
        )
    ]
    if engine == "airflow":
        core = median(times[CORE]) * 1000
        clients = median(times[CORE_CLIENTS]) * 1000
        out.append(Row(f"4 import cost: `{CORE}`", "<= 150 ms", f"{core:.0f} ms", "-", core <= 150))
        out.append(
            Row(
                "4 import cost: `from cyberdesk_core import` both clients + RunWatcher",
                "(informational)",
                f"{clients:.0f} ms",
            )
        )
    return out


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure and print; returns the rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", choices=tuple(PAIRS), required=True)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    result = rows(args.engine, *measure(args.engine, args.runs))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
