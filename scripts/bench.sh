#!/usr/bin/env bash
# Run every benchmark in its environment and print one combined table (called by `make bench`).
# Core, emulator and Airflow benchmarks run in .venvs/airflow, Prefect ones in .venvs/prefect.
# Results are also kept in BENCH_OUT (default: a temporary directory removed afterwards).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${BENCH_OUT:-}"
if [[ -z "$out" ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
started=$SECONDS
status=0
.venvs/airflow/bin/python -m benchmarks.run --env airflow --out-dir "$out" || status=1
.venvs/prefect/bin/python -m benchmarks.run --env prefect --out-dir "$out" || status=1
.venvs/airflow/bin/python -m benchmarks.run --table "$out"
echo "bench: $((SECONDS - started)) s on $(nproc) cores (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
