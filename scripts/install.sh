#!/usr/bin/env bash
# Create the virtualenv and install the pinned dependency tree. Idempotent.
set -euo pipefail
PYTHON=${1:-python3.11}
VENV=${2:-.venv}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    PYTHON=python3
  else
    echo "ERROR: Python 3.11 is required (looked for '$PYTHON' and python3). Install it, or run 'make PYTHON=/path/to/python3.11 ...'." >&2
    exit 1
  fi
fi
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "[install] creating virtualenv $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
echo "[install] pip install -r requirements.txt -c constraints.txt (about a minute on a fresh machine)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v -E "^WARNING: Location" || true; }
# The filter only hides this machine's notes about missing local index folders; pipefail keeps pip's status.
"$VENV/bin/python" -m pip install --quiet -r requirements.txt -c constraints.txt 2>&1 \
  | { grep -v -E "^WARNING: Location" || true; }
"$VENV/bin/python" -m pip check
echo "[install] done in $(( $(date +%s) - start ))s"
