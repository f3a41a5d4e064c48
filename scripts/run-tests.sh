#!/usr/bin/env bash
# Run pytest in one environment over the given test folders.
# Usage: scripts/run-tests.sh ENV PATH...   Extra pytest options: PYTEST_ARGS="...".
# pytest's exit code 5 ("no tests collected") is a failure here: every folder passed must hold tests.
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
# shellcheck disable=SC2086
"$py" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-} "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "run-tests: pytest collected no tests in: $*" >&2
  exit 1
fi
exit $rc
