"""Runner: the benchmarks of one environment, then one combined table.

`python -m benchmarks.run --env airflow --out-dir DIR` runs the core, emulator and Airflow
benchmarks (each in its own process, so CPU and memory figures never mix) and writes their rows
to DIR; `--env prefect` runs the Prefect ones (in the Prefect environment); `--table DIR` prints
every row found in DIR as one table. `scripts/bench.sh` (`make bench`) does all three.
A benchmark that crashes is reported and the others still run; the exit status is non-zero
only then. Targets missed are shown in the table, never turned into a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._report import Row, emit, load_rows, log

# (result file, module, arguments) per environment, in running order.
PLAN: dict[str, list[tuple[str, str, list[str]]]] = {
    "airflow": [
        ("1-poll-cost", "benchmarks.bench_poll_cost", []),
        ("2-airflow-triggers", "benchmarks.bench_triggerer", ["--engine", "airflow"]),
        ("3-download", "benchmarks.bench_download", []),
        ("4-imports-airflow", "benchmarks.bench_imports", ["--engine", "airflow"]),
        ("5-emulator-capacity", "benchmarks.bench_emulator_capacity", []),
        ("6-scaling-airflow", "benchmarks.bench_scaling", ["--engine", "airflow"]),
    ],
    "prefect": [
        ("2-prefect-waits", "benchmarks.bench_triggerer", ["--engine", "prefect"]),
        ("4-imports-prefect", "benchmarks.bench_imports", ["--engine", "prefect"]),
        ("6-scaling-prefect", "benchmarks.bench_scaling", ["--engine", "prefect"]),
    ],
}


def run_env(env: str, out_dir: Path) -> int:
    """Run the environment's benchmarks; returns how many crashed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    crashed = 0
    for name, module, args in PLAN[env]:
        out = out_dir / f"{name}.json"
        log(f"== {name} ({module} {' '.join(args)})")
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)])
        log(f"== {name}: {time.perf_counter() - started:.0f} s")
        if result.returncode != 0:
            crashed += 1
            failed = [
                Row(f"{name}: benchmark crashed", "-", f"exit {result.returncode}", "-", False)
            ]
            emit(failed, str(out))
    return crashed


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", choices=tuple(PLAN))
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--table", type=Path, help="print the rows of every *.json in this dir")
    args = parser.parse_args(argv)
    if args.table is not None:
        rows = load_rows(str(p) for p in sorted(args.table.glob("*.json")))
        print()
        emit(rows)
        return 0
    if args.env is None or args.out_dir is None:
        parser.error("give --env and --out-dir, or --table")
    return 1 if run_env(args.env, args.out_dir) else 0


if __name__ == "__main__":
    sys.exit(main())
