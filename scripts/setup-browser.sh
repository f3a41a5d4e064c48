#!/usr/bin/env bash
# Make sure a headless Chromium is on this machine for tests/browser: Debian's `chromium` package,
# installed when missing (as root, or through sudo when it is available without a password).
# Playwright drives this system browser; it never downloads its own (`playwright install` is not
# used). Idempotent: does nothing when chromium is already installed.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi

if [[ "$(id -u)" == "0" ]]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "setup-browser: chromium is missing; install the Debian package as root:" >&2
  echo "  apt-get install -y chromium" >&2
  exit 1
fi

echo "setup-browser: installing chromium (Debian package)" >&2
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "setup-browser: chromium still missing" >&2; exit 1; }
