"""The machine a benchmark ran on: every figure states it (cores, memory, load when it started)."""

from __future__ import annotations

import os
import platform


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "load_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        # up to 8 engineers share this machine: figures carry their noise (medians of several runs)
        "shared": True,
    }
