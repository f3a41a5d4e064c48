#!/usr/bin/env bash
# Create or refresh one virtual environment from its committed lock file.
# Usage: scripts/setup-env.sh NAME   (NAME: airflow | prefect | airflow-oldest | prefect-oldest |
#        cyberdesk-sdk | browser | release)
# Every environment but cyberdesk-sdk and browser also gets this project, editable. cyberdesk-sdk
# holds Cyberdesk's official SDK only: tests/sdk drives that client, which nobody here wrote,
# against the emulator started from the airflow environment. browser holds Playwright only:
# tests/browser drives the Debian chromium (scripts/setup-browser.sh) at the emulator's run page.
# release holds twine only, for `make dist` to check what it built (scripts/check-dist.sh).
# Idempotent: when the lock file (and pyproject.toml, where the project is installed) are
# unchanged, it does nothing.
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

with_project=true
[[ "$name" == "cyberdesk-sdk" || "$name" == "browser" || "$name" == "release" ]] && with_project=false
if $with_project; then
  stamp="$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)"
else
  stamp="$(sha256sum "$lock" | cut -d' ' -f1)"
fi
if [[ -f "$venv/.cyberdesk-stamp" && "$(cat "$venv/.cyberdesk-stamp")" == "$stamp" ]]; then
  exit 0
fi

echo "setup: building $venv from $lock" >&2
[[ -x "$venv/bin/python" ]] || uv venv --quiet --python "$python" "$venv"
uv pip sync --quiet --python "$venv/bin/python" "$lock"
if $with_project; then
  uv pip install --quiet --python "$venv/bin/python" --no-deps -e .
fi
echo "$stamp" > "$venv/.cyberdesk-stamp"
