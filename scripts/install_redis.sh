#!/usr/bin/env bash
# Install Debian's redis-server (the Celery broker and result backend of the two-worker run,
# tests/e2e/test_celery.py and `make celery`) when missing. Idempotent: a machine that has it
# returns at once. Used by `make redis` (and so `make test`).
set -euo pipefail
REDIS_SERVER_BIN=${REDIS_SERVER_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}

if [ -x "$REDIS_SERVER_BIN" ]; then
  echo "[redis] $("$REDIS_SERVER_BIN" --version | head -1 | cut -d' ' -f1-3) at $REDIS_SERVER_BIN"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: redis-server is missing and this is not a Debian/Ubuntu system. Install Redis yourself" \
       "(macOS: brew install redis) and set REDIS_SERVER_BIN to its path." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ERROR: installing redis-server needs root (apt-get install -y redis-server)." >&2
    exit 1
  fi
fi

start=$(date +%s)
echo "[redis] installing Debian's redis-server ..."
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends redis-server \
  | awk '/^(Unpacking|Setting up) redis/ { print "[redis] " $0; fflush() }'
if ! command -v redis-server >/dev/null 2>&1; then
  echo "ERROR: apt-get finished but redis-server is still missing." >&2
  exit 1
fi
echo "[redis] $(redis-server --version | cut -d' ' -f1-3) installed in $(( $(date +%s) - start ))s"
