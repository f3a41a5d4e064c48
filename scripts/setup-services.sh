#!/usr/bin/env bash
# Make sure the binaries of the services the distributed tests start are on this machine:
# PostgreSQL (initdb, postgres, pg_isready, psql, pg_dump) and Redis (redis-server), from Debian's
# packages, plus the unprivileged system user the tests run PostgreSQL as (it refuses root).
# Idempotent: installs only what is missing. The tests start and stop the services themselves
# (tests/e2e/distributed/services.py); nothing here starts a daemon.
set -euo pipefail

user="${CYBERDESK_TEST_SERVICE_USER:-cyberdesk-test}"

have_postgres() {
  command -v postgres >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null \
    && compgen -G "/usr/lib/postgresql/*/bin/pg_dump" >/dev/null
}

have_redis() {
  command -v redis-server >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)

if ((${#missing[@]})); then
  echo "setup-services: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d refuses the packages' own daemons: the tests start their own instances.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ((created_policy)) && rm -f "$policy"
fi

if ! getent passwd "$user" >/dev/null; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
fi

have_postgres || { echo "setup-services: PostgreSQL binaries still missing" >&2; exit 1; }
have_redis || { echo "setup-services: redis-server still missing" >&2; exit 1; }
