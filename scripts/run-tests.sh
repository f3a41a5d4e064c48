#!/usr/bin/env bash
# Run pytest in one environment, once per test folder.
# Usage: scripts/run-tests.sh ENV FOLDER...   Extra pytest options: PYTEST_ARGS="...".
# One pytest process per folder, because each engine folder starts its own session-wide harness
# (an Airflow metadata DB, a Prefect test server) and two of those must not share a process.
# pytest's exit code 5 ("no tests collected") counts as a failure: every folder named must hold tests.
set -uo pipefail
env_name="$1"; shift
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py=".venvs/${env_name}/bin/python"
"$py" - <<'PY'
import importlib.metadata as md
names = ["apache-airflow", "prefect", "httpx", "pydantic", "fastapi"]
found = []
for n in names:
    try:
        found.append(f"{n}=={md.version(n)}")
    except md.PackageNotFoundError:
        pass
print("engine versions:", ", ".join(found))
PY
failed=()
for folder in "$@"; do
  echo "=== ${env_name}: pytest ${folder}"
  # shellcheck disable=SC2086
  "$py" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-} "$folder"
  rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "run-tests: pytest collected no tests in ${folder}" >&2
  fi
  [[ $rc -eq 0 ]] || failed+=("${folder} (exit ${rc})")
done
if ((${#failed[@]})); then
  echo "run-tests: ${env_name}: failed: ${failed[*]}" >&2
  exit 1
fi
