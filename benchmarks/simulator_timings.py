#!/usr/bin/env python3
"""How fast the simulators answer and stop, and how long the fault and rate-limit waits last.

Figures the tests used to assert (a stop under 3 s, a latency fault of at least 0.2 s); the
tests now check the behaviour, and the durations are measured here:

- each command line (`python -m simulators...`): seconds from start to its first answer, and
  from SIGTERM to a clean exit (median of three runs);
- the CRM simulator's `latency_ms` fault: how long a request takes with 200 ms of injected
  latency, and without (median of five);
- the ingestion HTTP client on a 429: how long it waited before its retry was answered,
  against the `Retry-After` the simulator sent.

    scripts/run.sh python benchmarks/simulator_timings.py

Prints a table and writes benchmarks/results/simulator_timings.json.
"""

from __future__ import annotations

import json
import os
import smtplib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from cs_analytics.ingestion.http_client import ApiSession  # noqa: E402
from simulators import crm_api, stores  # noqa: E402
from simulators.httpbase import serve_in_thread  # noqa: E402
from tests.integration.cli import serving_cli  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "simulator_timings.json"
TOKEN = "bench-token"
CLI_RUNS = 3
LATENCY_RUNS = 5


def first_answer(module: str, address: str) -> None:
    if module.endswith("smtp_sink"):
        host, port = address.rsplit(":", 1)
        with smtplib.SMTP(host, int(port), timeout=10) as client:
            client.noop()
        return
    path = {"simulators.crm_api": "/crm/v3/owners", "simulators.app_api": "/api/v1/technicians"}.get(module, "/api/")
    requests.get(f"{address}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def time_cli(module: str, work: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "CRM_SIM_TOKEN": TOKEN,
        "APP_SIM_API_KEY": TOKEN,
        "SLACK_SIM_TOKEN": TOKEN,
        "SIM_DATA_DIR": str(work),
        "SLACK_SIM_STORE": str(work / "slack"),
        "SMTP_SIM_MAILDIR": str(work / "mail"),
    }
    started = time.perf_counter()
    with serving_cli(module, env) as address:  # the tests' own launcher: SIGTERM and a clean exit on leaving
        first_answer(module, address)
        answered = time.perf_counter()
    stopped = time.perf_counter()
    return {"start_to_first_answer_s": answered - started, "sigterm_to_exit_s": stopped - answered}


def latency_fault(work: Path) -> dict[str, float]:
    stores.connect_crm(work / "crm.sqlite").close()
    server = crm_api.make_server(store_path=work / "crm.sqlite", token=TOKEN, rate_limit_per_10s=0)
    out = {}
    with serve_in_thread(server) as url, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        for latency_ms in (0, 200):
            http.post(f"{url}/_sim/faults", json={"latency_ms": latency_ms}, timeout=10)
            times = []
            for _ in range(LATENCY_RUNS):
                t = time.perf_counter()
                http.get(f"{url}/crm/v3/owners", timeout=10).raise_for_status()
                times.append(time.perf_counter() - t)
            out[f"request_with_latency_{latency_ms}ms_s"] = statistics.median(times)
    return out


def rate_limit_wait(work: Path) -> dict[str, float]:
    stores.connect_crm(work / "crm.sqlite").close()
    server = crm_api.make_server(store_path=work / "crm.sqlite", token=TOKEN, rate_limit_per_10s=1)
    with serve_in_thread(server) as url:
        api = ApiSession("crm_api", url, TOKEN, timeout_s=30)
        api.request("GET", "/crm/v3/owners")  # uses the window's only request
        probe = requests.get(f"{url}/crm/v3/owners", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        t = time.perf_counter()
        api.request("GET", "/crm/v3/owners")  # 429 first, then the retry after Retry-After
        waited = time.perf_counter() - t
    return {"retry_after_sent_s": float(probe.headers.get("Retry-After", "nan")), "client_wait_s": waited}


def main() -> int:
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_sim_") as tmp:
        work = Path(tmp)
        stores.connect_crm(work / "crm.sqlite").close()
        stores.connect_app(work / "mobile_app.sqlite").close()
        for module in (
            "simulators.crm_api",
            "simulators.app_api",
            "simulators.sinks.slack_api",
            "simulators.sinks.smtp_sink",
        ):
            runs = [time_cli(module, work) for _ in range(CLI_RUNS)]
            rows[module] = {k: round(statistics.median(r[k] for r in runs), 3) for k in runs[0]}
        rows["crm latency fault"] = {k: round(v, 3) for k, v in latency_fault(work).items()}
        rows["http client on 429"] = {k: round(v, 3) for k, v in rate_limit_wait(work).items()}

    print(f"\n{'what':<28} {'measure':<34} {'seconds':>8}")
    for what, measures in rows.items():
        for name, value in measures.items():
            print(f"{what:<28} {name:<34} {value:>8.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"measured_at": datetime.now(UTC).isoformat(), "results": rows}, indent=2))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
