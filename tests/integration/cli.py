"""A simulator's command line, run as a person runs it: started, addressed through its
banner, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def serving_cli(module: str, env: dict[str, str]) -> Iterator[str]:
    """`python -m <module> --port 0`; yields the address its banner gives, then sends SIGTERM and
    checks a clean stop: exit status 0 (not a kill) and no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        banner = proc.stderr.readline()
        assert "listening on" in banner, banner
        yield banner.split("listening on ")[1].split(",")[0].strip()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, f"{module} did not exit cleanly on SIGTERM"
        assert "Traceback" not in (rest := proc.stderr.read()), rest
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
