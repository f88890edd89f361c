#!/usr/bin/env bash
# Headless Chromium (Debian's chromium + chromium-driver) and a colour emoji font, to render
# messages and pages to PNG the way their readers see them (tests/integration/test_alert_previews.py,
# scripts/alert_previews.py). Idempotent: returns at once when everything is there.
# (The `bi` branch has a fuller script of the same name; the two are to be merged.)
set -euo pipefail
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

if [ -x "$CHROMIUM_BIN" ] && [ -f "$EMOJI_FONT" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: $CHROMIUM_BIN or the emoji font is missing and this is not Debian/Ubuntu: install Chromium" \
       "(and fonts-noto-color-emoji) yourself, and set CHROMIUM_BIN." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ERROR: installing chromium needs root (apt-get install -y chromium chromium-driver fonts-noto-color-emoji)." >&2
    exit 1
  fi
fi
echo "[browser] installing chromium, chromium-driver and fonts-noto-color-emoji ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-noto-color-emoji >/dev/null
"$CHROMIUM_BIN" --version
