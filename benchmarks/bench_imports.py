"""Benchmark 4: import cost.

Each figure is the median over fresh interpreters of the time one import statement takes in
that interpreter (`time.perf_counter` around the import; interpreter start-up excluded). The
engine's own import is measured in the same run and subtracted; runs alternate between ours and
the engine's so background load hits both alike, and the spread of the paired differences
(interquartile range) is reported with the median. Bytecode is cached in a private temporary
`PYTHONPYCACHEPREFIX` and one warm-up run per statement fills it, as a DAG processor or a
Prefect worker would have it.

Two cross-checks, both far less sensitive to load on the machine than the paired timings:
the in-process cost (the engine's statement first, then ours timed in the same interpreter,
which is exactly what ours adds) and one `-X importtime` run listing the modules only ours
loads with their own import time.

Airflow: `cyberdesk_airflow.operators` loads each operator on first use, so the literal
`import cyberdesk_airflow.operators` imports no Airflow at all and its difference to
`import airflow.sdk` is meaningless (negative); it is still reported. The headline is what a DAG
file pays for using the operators: importing all four on top of what every DAG file imports
anyway (`from airflow.sdk import DAG, BaseOperator`).

Run: `.venvs/airflow/bin/python -m benchmarks.bench_imports --engine airflow` (Airflow and
`cyberdesk_core`) and `.venvs/prefect/bin/python -m benchmarks.bench_imports --engine prefect`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from benchmarks._report import Row, emit, log, median

PROBE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
MARGINAL_PROBE = "import time; {base}; " + PROBE.removeprefix("import time; ")

AIRFLOW_DAG = "from airflow.sdk import DAG, BaseOperator"
AIRFLOW_OPERATORS = (
    "from cyberdesk_airflow.operators import CyberdeskBulkRunOperator, CyberdeskChainOperator, "
    "CyberdeskDownloadAttachmentsOperator, CyberdeskRunOperator"
)


@dataclass(frozen=True)
class Pair:
    """Ours against the engine's statement; `target_ms` None for an informational figure."""

    ours: str
    theirs: str
    target_ms: float | None
    label: str


PAIRS: dict[str, tuple[Pair, ...]] = {
    "airflow": (
        Pair(
            f"{AIRFLOW_DAG}; {AIRFLOW_OPERATORS}",
            AIRFLOW_DAG,
            50.0,
            "DAG file: the four Cyberdesk operators on top of "
            "`from airflow.sdk import DAG, BaseOperator`",
        ),
        Pair(
            "import cyberdesk_airflow.operators",
            "import airflow.sdk",
            None,
            "`import cyberdesk_airflow.operators` minus `import airflow.sdk` (literal; the "
            "package loads operators lazily, so this imports no Airflow)",
        ),
    ),
    "prefect": (
        Pair(
            "import cyberdesk_prefect",
            "import prefect",
            50.0,
            "`import cyberdesk_prefect` minus `import prefect`",
        ),
    ),
}
CORE = "import cyberdesk_core"
CORE_CLIENTS = "from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, RunWatcher"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, env=env, timeout=300
    )


def import_seconds(stmt: str, env: dict[str, str]) -> float:
    """Seconds `stmt` takes in a fresh interpreter."""
    out = _run(["-c", PROBE.format(stmt=stmt)], env).stdout
    return float(out.strip().splitlines()[-1])


def marginal_seconds(pair: Pair, env: dict[str, str]) -> float:
    """Seconds ours takes in a fresh interpreter that has run the engine's statement."""
    out = _run(["-c", MARGINAL_PROBE.format(base=pair.theirs, stmt=pair.ours)], env).stdout
    return float(out.strip().splitlines()[-1])


_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)")


def module_self_times(stmt: str, env: dict[str, str]) -> dict[str, float]:
    """Module -> own import seconds, from `python -X importtime` (one fresh interpreter)."""
    err = _run(["-X", "importtime", "-c", stmt], env).stderr
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


@dataclass
class Measured:
    """Timings of one engine's statements (seconds) and the cross-checks of each pair."""

    times: dict[str, list[float]]
    marginal: dict[Pair, list[float]]
    extra: dict[Pair, dict[str, float]]


def measure(engine: str, runs: int) -> Measured:
    """`runs` timings of each statement (after one warm-up each), interleaved, plus the
    in-process cost of each pair and the own import time of the modules only ours loads."""
    pairs = PAIRS[engine]
    stmts = list(dict.fromkeys(s for p in pairs for s in (p.ours, p.theirs)))
    if engine == "airflow":
        stmts += [CORE, CORE_CLIENTS]
    result = Measured({s: [] for s in stmts}, {p: [] for p in pairs}, {})
    with tempfile.TemporaryDirectory(prefix="cyberdesk-bench-imports-") as home:
        env = probe_env(home)
        for stmt in stmts:
            import_seconds(stmt, env)
        for n in range(runs):
            for stmt in stmts:
                result.times[stmt].append(import_seconds(stmt, env))
            for pair in pairs:
                result.marginal[pair].append(marginal_seconds(pair, env))
            log(f"imports {engine} run {n + 1}/{runs}")
        for pair in pairs:
            engine_modules = module_self_times(pair.theirs, env)
            result.extra[pair] = {
                name: seconds
                for name, seconds in module_self_times(pair.ours, env).items()
                if name not in engine_modules
            }
    return result


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def pair_row(pair: Pair, measured: Measured) -> Row:
    """Paired difference (median, IQR), absolute medians and both cross-checks, in ms."""
    ours, theirs = measured.times[pair.ours], measured.times[pair.theirs]
    # Runs alternate, so the difference of each consecutive pair cancels slow load drifts.
    diffs = [(o - t) * 1000 for o, t in zip(ours, theirs, strict=True)]
    diff = median(diffs)
    q1, q3 = _quartiles(diffs)
    marginal = [m * 1000 for m in measured.marginal[pair]]
    m1, m3 = _quartiles(marginal)
    extra = measured.extra[pair]
    ms_ours, ms_theirs = median(ours) * 1000, median(theirs) * 1000
    return Row(
        f"4 import cost: {pair.label}",
        f"<= {pair.target_ms:g} ms" if pair.target_ms is not None else "(informational)",
        f"{diff:+.0f} ms (median of {len(diffs)} paired runs, IQR {q1:+.0f}..{q3:+.0f}; "
        f"{ms_ours:.0f} vs {ms_theirs:.0f} ms); in-process {median(marginal):.0f} ms "
        f"(IQR {m1:.0f}..{m3:.0f}); -X importtime: {len(extra)} extra modules, "
        f"{sum(extra.values()) * 1000:.0f} ms own",
        f"{ms_ours / ms_theirs:.2f}x engine" if ms_theirs else "-",
        diff <= pair.target_ms if pair.target_ms is not None else None,
    )


def rows(engine: str, measured: Measured) -> list[Row]:
    """One row per pair, then (Airflow environment) the absolute core figures."""
    out = [pair_row(pair, measured) for pair in PAIRS[engine]]
    if engine == "airflow":
        core = median(measured.times[CORE]) * 1000
        clients = median(measured.times[CORE_CLIENTS]) * 1000
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
    result = rows(args.engine, measure(args.engine, args.runs))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
