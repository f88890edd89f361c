#!/usr/bin/env bash
# Install the headless browser the browser tests drive (Debian's chromium + chromium-driver),
# when it is missing. Idempotent: a machine that has it returns at once.
#
# Browser builds downloaded by Playwright or webdriver managers cannot be fetched here (nor on
# CI), so the tests drive the system browser: Playwright with executable_path=$CHROMIUM_BIN, or
# Selenium with $CHROMEDRIVER_BIN. Used by `make browser` (and so `make test`), and reusable by
# any test that looks at a web UI (Superset, the Airflow UI).
set -euo pipefail
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}
CHROMEDRIVER_BIN=${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}

if [ -x "$CHROMIUM_BIN" ] && [ -x "$CHROMEDRIVER_BIN" ]; then
  echo "[browser] $("$CHROMIUM_BIN" --version 2>/dev/null | head -1) at $CHROMIUM_BIN"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: $CHROMIUM_BIN not found and this is not a Debian/Ubuntu system. Install Chromium and" \
       "its driver yourself and set CHROMIUM_BIN / CHROMEDRIVER_BIN to their paths." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ERROR: installing chromium needs root (apt-get install -y chromium chromium-driver)." >&2
    exit 1
  fi
fi

start=$(date +%s)
echo "[browser] installing Debian's chromium and chromium-driver (about a minute) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core \
  | awk '/^(Unpacking|Setting up) (chromium|chromium-driver) / { print "[browser] " $0; fflush() }'
if [ ! -x "$CHROMIUM_BIN" ] || [ ! -x "$CHROMEDRIVER_BIN" ]; then
  echo "ERROR: apt-get finished but $CHROMIUM_BIN or $CHROMEDRIVER_BIN is still missing." >&2
  exit 1
fi
echo "[browser] $("$CHROMIUM_BIN" --version 2>/dev/null | head -1) installed in $(( $(date +%s) - start ))s"
