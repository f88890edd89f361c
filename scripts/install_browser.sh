#!/usr/bin/env bash
# Install the headless browser the browser tests drive and that renders messages to PNG (Debian's
# chromium + chromium-driver, and a colour emoji font so the alerts' emoji render as their readers
# see them), when missing. Idempotent: a machine that has them returns at once.
#
# Browser builds downloaded by Playwright or webdriver managers cannot be fetched here (nor on
# CI), so the tests drive the system browser: Playwright with executable_path=$CHROMIUM_BIN, or
# Selenium with $CHROMEDRIVER_BIN. Used by `make browser` (and so `make test`), by the Superset
# browser tests, tests/integration/test_alert_previews.py and scripts/alert_previews.py.
set -euo pipefail
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}
CHROMEDRIVER_BIN=${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

if [ -x "$CHROMIUM_BIN" ] && [ -x "$CHROMEDRIVER_BIN" ] && [ -f "$EMOJI_FONT" ]; then
  echo "[browser] $("$CHROMIUM_BIN" --version 2>/dev/null | head -1) at $CHROMIUM_BIN"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: $CHROMIUM_BIN, $CHROMEDRIVER_BIN or the emoji font is missing and this is not a Debian/Ubuntu" \
       "system. Install Chromium, its driver (and fonts-noto-color-emoji) yourself and set CHROMIUM_BIN /" \
       "CHROMEDRIVER_BIN to their paths." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ERROR: installing chromium needs root (apt-get install -y chromium chromium-driver fonts-noto-color-emoji)." >&2
    exit 1
  fi
fi

start=$(date +%s)
echo "[browser] installing Debian's chromium, chromium-driver and fonts-noto-color-emoji (about a minute) ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core fonts-noto-color-emoji \
  | awk '/^(Unpacking|Setting up) (chromium|chromium-driver) / { print "[browser] " $0; fflush() }'
if [ ! -x "$CHROMIUM_BIN" ] || [ ! -x "$CHROMEDRIVER_BIN" ]; then
  echo "ERROR: apt-get finished but $CHROMIUM_BIN or $CHROMEDRIVER_BIN is still missing." >&2
  exit 1
fi
echo "[browser] $("$CHROMIUM_BIN" --version 2>/dev/null | head -1) installed in $(( $(date +%s) - start ))s"
