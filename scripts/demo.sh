#!/usr/bin/env bash
# make demo: the monthly financial-reporting pipeline on Airflow and on Prefect, end to end.
#
# Against the embedded emulator by default; with CYBERDESK_API_KEY set (and optionally
# CYBERDESK_BASE_URL) against Cyberdesk Cloud, with the workflow ids taken from
# CYBERDESK_ERP_EXPORT_WORKFLOW_ID, CYBERDESK_EXCEL_TRANSFORM_WORKFLOW_ID and
# CYBERDESK_ERP_IMPORT_WORKFLOW_ID (pool: CYBERDESK_FINANCE_POOL_ID). See docs/examples.md.
# Options are passed to scripts/demo/main.py (--time-scale, --poll-interval).
#
# The driver starts every child in its own process group and stops them on exit and on Ctrl-C.
# As a last resort (the driver killed outright), the EXIT trap below signals every process group
# the driver recorded.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

for env in airflow prefect; do
  if [[ ! -x ".venvs/${env}/bin/python" ]]; then
    echo "demo: .venvs/${env} is missing; run 'make setup' first" >&2
    exit 2
  fi
done

# Logs, reports and downloaded files go to .demo/ (CYBERDESK_DEMO_WORKDIR overrides it).
workdir="${CYBERDESK_DEMO_WORKDIR:-$root/.demo}"
mkdir -p "$workdir"
pgid_file="$workdir/process-groups"
: > "$pgid_file"

cleanup() {
  local pgid signalled=0
  [[ -f "$pgid_file" ]] || return 0
  while read -r pgid; do
    [[ -n "$pgid" ]] && kill -TERM -- "-${pgid}" 2>/dev/null && signalled=1
  done < "$pgid_file"
  if (( signalled )); then
    sleep 1
    while read -r pgid; do
      [[ -n "$pgid" ]] && kill -KILL -- "-${pgid}" 2>/dev/null
    done < "$pgid_file"
  fi
  rm -f "$pgid_file"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

.venvs/airflow/bin/python scripts/demo/main.py --workdir "$workdir" --pgid-file "$pgid_file" "$@"
exit $?
