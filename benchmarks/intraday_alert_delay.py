#!/usr/bin/env python3
"""How long a real-time event takes to reach Slack: from the CRM's timestamp of a dissatisfied
VIP's survey answer to the Slack message of the `vip_dissatisfied` rule.

Needs the demo's stack and warehouse (`make demo` first): the CRM simulator, the Slack sink,
the dbt views over the CRM staging. Each round records a new CSAT answer of 1/5 from a VIP
contact in the CRM simulator's store, stamped now (what HubSpot does when the customer answers),
then runs what the `alerts_intraday` DAG runs when it is next due:

- `airflow dags test alerts_intraday <now>`: the whole DAG under Airflow (CLI start, parse,
  the three CRM loads, the rules, the delivery);
- the same three steps called in-process (the task code without Airflow's start-up),

and reads the Slack sink for the message. Delay = Slack message ts - the answer's timestamp.
In production the run starts at the next quarter hour (CronTriggerTimetable `*/15 8-17 * * 1-5`),
so the delay a user sees is the wait for that tick (0 to 15 minutes, 7.5 on average) plus
the measured processing.

    scripts/run.sh python benchmarks/intraday_alert_delay.py [--rounds 3] [--modes airflow,in-process]

Prints a table and writes benchmarks/results/intraday_alert_delay.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from simulators import stores  # noqa: E402
from simulators.sinks import inbox  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "intraday_alert_delay.json"
TICK_MINUTES = 15


def pick_vip(conn, n: int) -> tuple[str, str, str]:
    """The n-th VIP contact of the CRM with a ticket (a new one each round: the rule's cooldown is
    per customer): (contact id, ticket id, display name)."""
    rows = conn.execute(
        "select c.id, c.properties, max(a.from_id) from objects c join associations a on a.to_type = 'contacts' "
        "and a.to_id = c.id and a.from_type = 'tickets' where c.object_type = 'contacts' "
        "and json_extract(c.properties, '$.vip') = 'true' and c.archived = 0 "
        "group by c.id order by cast(c.id as integer) limit 50"
    ).fetchall()
    distinct = list({r[0]: r for r in rows}.values())
    if len(distinct) <= n:
        raise SystemExit("not enough VIP contacts with a ticket in the CRM store: run `make demo` first")
    contact, props, ticket = distinct[n]
    p = json.loads(props)
    name = p.get("company") or f"{p.get('firstname') or ''} {p.get('lastname') or ''}".strip()
    return contact, ticket, name


def record_answer(n: int) -> tuple[str, datetime, str]:
    """A CSAT answer of 1/5 written to the CRM store, stamped now; (id, event time, customer name)."""
    conn = stores.connect_crm(stores.crm_store_path())
    try:
        contact, ticket, name = pick_vip(conn, n)
        event = datetime.now(UTC)
        iso = stores.iso_utc(event)
        top = conn.execute(
            "select max(cast(id as integer)) from objects where object_type = 'feedback_submissions'"
        ).fetchone()[0]
        answer_id = str((top or 14_000_000) + 1)
        stores.upsert_crm_objects(
            conn,
            "feedback_submissions",
            [{"id": answer_id, "created_at": iso, "updated_at": iso,
              "properties": {"hs_object_id": answer_id, "createdate": iso, "hs_lastmodifieddate": iso,
                             "hs_survey_type": "CSAT", "hs_response_value": "1", "hs_submission_timestamp": iso,
                             "hs_contact_id": contact, "hs_ticket_id": ticket, "hs_survey_channel": "EMAIL"}}],
        )  # fmt: skip
    finally:
        conn.close()
    return answer_id, event, name


def slack_delay(key_part: str, event: datetime, timeout_s: float = 5.0) -> float | None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for m in inbox.slack_messages():
            blocks = json.dumps(m.get("blocks") or [], ensure_ascii=False)
            if m["method"] == "chat.postMessage" and key_part in blocks:
                return float(m["ts"]) - event.timestamp()
        time.sleep(0.2)
    return None


def run_airflow(logical: datetime, logs: Path) -> float:
    started = time.time()
    with open(logs, "w") as log:
        proc = subprocess.run(
            ["airflow", "dags", "test", "alerts_intraday", logical.isoformat()],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=os.environ, timeout=900,
        )  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"alerts_intraday failed, see {logs}")
    return time.time() - started


def run_in_process(logical: datetime) -> float:
    import pendulum

    from cs_analytics.alerts.tasks import deliver_outbox, evaluate_rules
    from cs_analytics.ingestion.tasks import load_crm

    end = pendulum.instance(logical)
    context = {"dag": SimpleNamespace(dag_id="alerts_intraday"), "run_id": f"bench__{logical.isoformat()}",
               "data_interval_start": end, "data_interval_end": end, "logical_date": end}  # fmt: skip
    started = time.time()
    for obj in ("contacts", "tickets", "feedback_submissions"):
        load_crm(obj, context)
    evaluate_rules("intraday", context)
    deliver_outbox(context)
    return time.time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="airflow,in-process",
                        help="comma-separated: airflow (whole DAG under `airflow dags test`), in-process")  # fmt: skip
    args = parser.parse_args()
    wanted = {"airflow": "airflow dags test", "in-process": "in-process"}
    modes = [wanted[m.strip()] for m in args.modes.split(",")]
    logs = ROOT / "build" / "benchmarks"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for m, mode in enumerate(modes):
        for i in range(args.rounds):
            answer_id, event, name = record_answer(m * args.rounds + i)
            logical = datetime.now(UTC)  # the run due right after the answer
            seconds = run_airflow(logical, logs / f"intraday_{i}.log") if mode.startswith("airflow") else (
                run_in_process(logical)
            )  # fmt: skip
            delay = slack_delay(f":{answer_id}", event)
            rows.append({"mode": mode, "round": i + 1, "customer": name, "run_seconds": round(seconds, 1),
                         "event_to_slack_seconds": None if delay is None else round(delay, 1)})  # fmt: skip
            print(f"  {mode:<18} round {i + 1}: run {seconds:6.1f}s, event -> Slack "
                  f"{'NOT DELIVERED' if delay is None else f'{delay:6.1f}s'}", flush=True)  # fmt: skip
    summary = {}
    for mode in modes:
        delays = [r["event_to_slack_seconds"] for r in rows if r["mode"] == mode and r["event_to_slack_seconds"]]
        if delays:
            median = statistics.median(delays)
            summary[mode] = {
                "median_processing_s": round(median, 1),
                "max_processing_s": round(max(delays), 1),
                "expected_delay_s": round(median + TICK_MINUTES * 60 / 2, 1),
                "worst_case_delay_s": round(max(delays) + TICK_MINUTES * 60, 1),
            }
    print("\nmode                 processing (median, max)   user-visible delay (mean, worst) with a 15-min tick")
    for mode, s in summary.items():
        print(f"{mode:<20} {s['median_processing_s']:>8.1f}s {s['max_processing_s']:>8.1f}s"
              f"      {s['expected_delay_s'] / 60:>6.1f} min {s['worst_case_delay_s'] / 60:>6.1f} min")  # fmt: skip
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "tick_minutes": TICK_MINUTES,
        "rounds": rows,
        "summary": summary,
        "missing": sum(1 for r in rows if r["event_to_slack_seconds"] is None),
    }
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten {RESULTS.relative_to(ROOT)}")
    return 1 if result["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
