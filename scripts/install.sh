#!/usr/bin/env bash
# Create the virtualenv and install the pinned dependency tree. Idempotent.
#   scripts/install.sh [python] [venv] [requirements] [constraints]
# (.venv from requirements.txt by default; `make bi` installs .venv-bi from requirements-bi.txt)
set -euo pipefail
PYTHON=${1:-python3.11}
VENV=${2:-.venv}
REQUIREMENTS=${3:-requirements.txt}
CONSTRAINTS=${4:-constraints.txt}
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
echo "[install] $VENV: pip install -r $REQUIREMENTS -c $CONSTRAINTS (a minute or two on a fresh machine)"
"$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | { grep -v -E "^WARNING: Location" || true; }
# Progress: a line every 25 packages collected, then one for the install itself. pipefail keeps
# pip's exit status; the filter drops this machine's notes about absent local index folders.
# pip byte-compiles every module at install (Superset's venv: 101 s, 38 s with --no-compile), and
# that stays: where PYTHONDONTWRITEBYTECODE is set, as on this machine, nothing would ever write
# the .pyc files and every Airflow process would compile its imports again (make test: +5.5 min).
"$VENV/bin/python" -m pip install -r "$REQUIREMENTS" -c "$CONSTRAINTS" 2>&1 \
  | awk -v start="$start" '
      /^WARNING: Location/ { next }
      /^(Collecting|Processing) / { n++; if (n % 25 == 0) { printf "[install] %4d packages resolved (%ds)\n", n, systime() - start; fflush() } next }
      /^Installing collected packages/ { printf "[install] %4d packages resolved; installing them ... (%ds)\n", n, systime() - start; fflush(); next }
      /^Successfully installed/ { printf "[install] installed (%ds)\n", systime() - start; fflush(); next }
      /^(ERROR|error)/ { print; fflush() }
      /^$/ { next }
      /^Requirement already satisfied|^  |^Using cached|^Downloading|^Obtaining|^Preparing|^Building|^Created|^Stored/ { next }
      { print; fflush() }'

"$VENV/bin/python" -m pip check
echo "[install] done in $(( $(date +%s) - start ))s"
