"""Benchmark 4: import cost.

Each figure is the median over fresh interpreters of the time one import statement takes in
that interpreter (`time.perf_counter` around the import; interpreter start-up excluded). The
engine's own import is measured in the same run and subtracted; runs alternate between ours and
the engine's so background load hits both alike, and the spread of the paired differences
(interquartile range) is reported with the median. Bytecode is cached in a private temporary
`PYTHONPYCACHEPREFIX` and one warm-up run per statement fills it, as a DAG processor or a
Prefect worker would have it.

Run n imports from `DEPTH_STEP * n` frames down the call stack, both sides at the same depth.
CPython (3.11 here) keeps frames in 16 KiB chunks and frees a chunk as soon as the call that
needed it returns; where an import's busy loops sit right at a chunk's edge, every call there
maps and unmaps a chunk. How often that happens depends only on the depth the import starts
at: `import prefect` on its own from the top of a `-c` script costs 17,700 minor page faults,
the same modules imported two frames deeper (from `cyberdesk_prefect`) 28,900, and from 0 to 44
frames down both sides range over 17,000-34,000. A DAG processor or a Prefect worker imports a
user's file from deep inside its own stack, at no particular depth, so the figure is taken over
a spread of depths; the top-of-stack pair (run 0) and the minor page faults of both sides are
printed beside it.

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

# Nests `depth` calls, then times `stmt` (seconds) and counts its minor page faults.
PROBE = """
import resource, sys, time
{base}
def nest(depth):
    if depth:
        return nest(depth - 1)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.perf_counter()
    {stmt}
    seconds = time.perf_counter() - started
    print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
nest(int(sys.argv[1]))
"""
# Frames between the depths of consecutive runs; run n starts its import DEPTH_STEP * n down.
DEPTH_STEP = 4

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


@dataclass(frozen=True)
class Probe:
    """One import statement timed in a fresh interpreter."""

    seconds: float
    minor_faults: int


def import_probe(stmt: str, env: dict[str, str], depth: int = 0, base: str = "") -> Probe:
    """`stmt` in a fresh interpreter that ran `base` first, `depth` frames down the stack."""
    # `stmt` runs inside a function: names it binds are its locals, which changes nothing.
    out = _run(["-c", PROBE.format(base=base, stmt=stmt), str(depth)], env).stdout
    seconds, faults = out.strip().splitlines()[-1].split()
    return Probe(float(seconds), int(faults))


def marginal_seconds(pair: Pair, env: dict[str, str]) -> float:
    """Seconds ours takes in a fresh interpreter that has run the engine's statement."""
    return import_probe(pair.ours, env, base=pair.theirs).seconds


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
    """Probes of one engine's statements (run n at depth DEPTH_STEP * n) and the
    cross-checks of each pair."""

    probes: dict[str, list[Probe]]
    marginal: dict[Pair, list[float]]
    extra: dict[Pair, dict[str, float]]

    def seconds(self, stmt: str) -> list[float]:
        """The timings of `stmt`, one per run."""
        return [p.seconds for p in self.probes[stmt]]


def measure(engine: str, runs: int) -> Measured:
    """`runs` probes of each statement (after one warm-up each), interleaved, run n at depth
    `DEPTH_STEP * n`, plus the in-process cost of each pair and the own import time of the
    modules only ours loads."""
    pairs = PAIRS[engine]
    stmts = list(dict.fromkeys(s for p in pairs for s in (p.ours, p.theirs)))
    if engine == "airflow":
        stmts += [CORE, CORE_CLIENTS]
    result = Measured({s: [] for s in stmts}, {p: [] for p in pairs}, {})
    with tempfile.TemporaryDirectory(prefix="cyberdesk-bench-imports-") as home:
        env = probe_env(home)
        for stmt in stmts:
            import_probe(stmt, env)
        for n in range(runs):
            for stmt in stmts:
                result.probes[stmt].append(import_probe(stmt, env, DEPTH_STEP * n))
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
    """Paired difference (median, IQR), absolute medians and the cross-checks, in ms."""
    ours, theirs = measured.seconds(pair.ours), measured.seconds(pair.theirs)
    # Runs alternate, so the difference of each consecutive pair cancels slow load drifts;
    # both sides of a pair import at the same depth.
    diffs = [(o - t) * 1000 for o, t in zip(ours, theirs, strict=True)]
    diff = median(diffs)
    q1, q3 = _quartiles(diffs)
    marginal = [m * 1000 for m in measured.marginal[pair]]
    m1, m3 = _quartiles(marginal)
    extra = measured.extra[pair]
    ms_ours, ms_theirs = median(ours) * 1000, median(theirs) * 1000
    faults_ours = [p.minor_faults for p in measured.probes[pair.ours]]
    faults_theirs = [p.minor_faults for p in measured.probes[pair.theirs]]
    deepest = DEPTH_STEP * (len(diffs) - 1)
    return Row(
        f"4 import cost: {pair.label}",
        f"<= {pair.target_ms:g} ms" if pair.target_ms is not None else "(informational)",
        f"{diff:+.0f} ms (median of {len(diffs)} paired runs at depths 0..{deepest}, IQR "
        f"{q1:+.0f}..{q3:+.0f}; {ms_ours:.0f} vs {ms_theirs:.0f} ms); at the top of the stack "
        f"{diffs[0]:+.0f} ms; minor faults {median(faults_ours) / 1000:.1f}k vs "
        f"{median(faults_theirs) / 1000:.1f}k (top {faults_ours[0] / 1000:.1f}k vs "
        f"{faults_theirs[0] / 1000:.1f}k); in-process {median(marginal):.0f} ms "
        f"(IQR {m1:.0f}..{m3:.0f}); -X importtime: {len(extra)} extra modules, "
        f"{sum(extra.values()) * 1000:.0f} ms own",
        f"{ms_ours / ms_theirs:.2f}x engine" if ms_theirs else "-",
        diff <= pair.target_ms if pair.target_ms is not None else None,
    )


def rows(engine: str, measured: Measured) -> list[Row]:
    """One row per pair, then (Airflow environment) the absolute core figures."""
    out = [pair_row(pair, measured) for pair in PAIRS[engine]]
    if engine == "airflow":
        core = median(measured.seconds(CORE)) * 1000
        clients = median(measured.seconds(CORE_CLIENTS)) * 1000
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
    parser.add_argument("--runs", type=int, default=12, help="one per depth, 4 frames apart")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    result = rows(args.engine, measure(args.engine, args.runs))
    emit(result, args.out)
    return result


if __name__ == "__main__":
    main()
