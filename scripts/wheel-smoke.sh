#!/usr/bin/env bash
# Install the built wheel into a fresh environment per engine and smoke-test it there.
# Usage: scripts/wheel-smoke.sh [ENGINE...]   (ENGINE: airflow | prefect; default both)
# Expects exactly one wheel in dist/ (`make dist`). Each environment is new (a temporary folder,
# removed afterwards), gets the wheel, not an editable checkout, with the engine's extra and the
# emulator's, constrained by requirements/ENGINE.lock.txt, so the versions are the ones the suites
# test. uv installs from its cache (warm after `make setup`) and goes to the index only for what the
# cache lacks. scripts/wheel_smoke.py runs with `python -I` from a temporary working directory:
# neither the checkout nor PYTHONPATH can shadow the installed package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
shopt -s nullglob
wheels=(dist/*.whl)
if ((${#wheels[@]} != 1)); then
  echo "wheel-smoke: expected one wheel in dist/ (run make dist), found ${#wheels[@]}" >&2
  exit 1
fi
wheel="$root/${wheels[0]}"
engines=("$@")
((${#engines[@]})) || engines=(airflow prefect)

for engine in "${engines[@]}"; do
  started=$SECONDS
  work="$(mktemp -d -t "cyberdesk-wheel-${engine}-XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "=== wheel-smoke: ${engine}: $(basename "$wheel") in a fresh environment"
  uv venv --quiet --python "$python" "$work/venv"
  requirement="cyberdesk-orchestration[${engine},emulator] @ file://${wheel}"
  constraints="requirements/${engine}.lock.txt"
  if ! uv pip install --quiet --offline --python "$work/venv/bin/python" -c "$constraints" \
    "$requirement" 2>/dev/null; then
    uv pip install --quiet --python "$work/venv/bin/python" -c "$constraints" "$requirement"
  fi
  mkdir -p "$work/home" "$work/cwd"
  (
    cd "$work/cwd"
    env -u PYTHONPATH \
      AIRFLOW_HOME="$work/home/airflow" \
      AIRFLOW__CORE__DAGS_FOLDER="$work/home/airflow/dags" \
      AIRFLOW__CORE__LOAD_EXAMPLES=False \
      PREFECT_HOME="$work/home/prefect" \
      PREFECT_SERVER_ANALYTICS_ENABLED=false \
      PREFECT_SERVER_LOGGING_LEVEL=WARNING \
      "$work/venv/bin/python" -I "$root/scripts/wheel_smoke.py" "$engine" 2>&1 |
      tee "$work/smoke.log" | grep --line-buffered '^wheel-smoke:'
  ) || {
    # The engines' own logs (dag.test, the Prefect server) only when something failed.
    echo "wheel-smoke: ${engine} failed; the last lines of its output:" >&2
    tail -n 80 "$work/smoke.log" >&2
    exit 1
  }
  rm -rf "$work"
  trap - EXIT
  echo "=== wheel-smoke: ${engine}: passed in $((SECONDS - started)) s"
done
