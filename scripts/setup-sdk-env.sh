#!/usr/bin/env bash
# Build .venvs/cyberdesk-sdk: Cyberdesk's official Python SDK (cyberdesk==2.2.69) and pytest,
# from requirements/cyberdesk-sdk.lock.txt. This project is NOT installed there: the SDK is a
# client nobody here wrote, and tests/sdk drives it against the emulator started as a subprocess
# of the airflow environment. Idempotent: an unchanged lock file means nothing to do.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
lock="requirements/cyberdesk-sdk.lock.txt"
venv=".venvs/cyberdesk-sdk"
python="${PYTHON:-python3}"

if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv with ${python} -m pip" >&2
  "$python" -m pip install --quiet uv
fi

stamp="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -f "$venv/.cyberdesk-stamp" && "$(cat "$venv/.cyberdesk-stamp")" == "$stamp" ]]; then
  exit 0
fi

echo "setup: building $venv from $lock" >&2
[[ -x "$venv/bin/python" ]] || uv venv --quiet --python "$python" "$venv"
uv pip sync --quiet --python "$venv/bin/python" "$lock"
echo "$stamp" > "$venv/.cyberdesk-stamp"
