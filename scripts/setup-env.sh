#!/usr/bin/env bash
# Create or refresh one virtual environment from its committed lock file.
# Usage: scripts/setup-env.sh NAME   (NAME: airflow | prefect)
# Idempotent: when the lock file and pyproject.toml are unchanged, it does nothing.
set -euo pipefail
name="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lock="requirements/${name}.lock.txt"
venv=".venvs/${name}"
python="${PYTHON:-python3}"

if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv with ${python} -m pip" >&2
  "$python" -m pip install --quiet uv
fi

stamp="$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ -f "$venv/.cyberdesk-stamp" && "$(cat "$venv/.cyberdesk-stamp")" == "$stamp" ]]; then
  exit 0
fi

echo "setup: building $venv from $lock" >&2
[[ -x "$venv/bin/python" ]] || uv venv --quiet --python "$python" "$venv"
uv pip sync --quiet --python "$venv/bin/python" "$lock"
uv pip install --quiet --python "$venv/bin/python" --no-deps -e .
echo "$stamp" > "$venv/.cyberdesk-stamp"
