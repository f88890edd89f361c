#!/usr/bin/env bash
# Run a command with the project's settings exported and the virtualenv first on PATH.
# Values already in the environment win over the local defaults.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$(python3 "$HERE/scripts/stack.py" env)"
if [ -d "$HERE/.venv/bin" ]; then
  export PATH="$HERE/.venv/bin:$PATH"
  export VIRTUAL_ENV="$HERE/.venv"
fi
cd "$HERE"
exec "$@"
