"""The demo's run summary: what the pipeline loaded, checked, scored and sent, read back from
the warehouse (and from the loopback sinks when they are the ones in use)."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from cs_analytics.warehouse import Warehouse

SUMMARY_SCHEMAS = (
    "raw_crm",
    "raw_cti",
    "raw_erp",
    "raw_app",
    "staging",
    "intermediate",
    "snapshots",
    "marts",
    "ml",
    "meta",
)
SOURCE_SCHEMAS = {"crm": "raw_crm", "cti": "raw_cti", "erp": "raw_erp", "mobile_app": "raw_app"}


def _relations(wh: Warehouse) -> list[tuple[str, str]]:
    return wh.query(
        "select table_schema, table_name from information_schema.tables where table_schema = any(%s) "
        "order by table_schema, table_name",
        (list(SUMMARY_SCHEMAS),),
    )


def _exists(wh: Warehouse, relation: str) -> bool:
    return wh.query("select to_regclass(%s) is not null", (relation,))[0][0]


def rows_per_table(wh: Warehouse) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for schema, table in _relations(wh):
        out.setdefault(schema, {})[table] = wh.query(f'select count(*) from "{schema}"."{table}"')[0][0]
    return out


def quarantine(wh: Warehouse) -> dict[str, Any]:
    if not _exists(wh, "meta.quarantine"):
        return {"total": 0, "by_object": [], "top_reasons": []}
    by_obj = wh.query("select source, object, count(*) from meta.quarantine group by 1, 2 order by 1, 2")
    reasons = wh.query(
        "select source, split_part(reason, ':', 1) as kind, count(*) from meta.quarantine "
        "group by 1, 2 order by 3 desc limit 10"
    )
    return {
        "total": sum(r[2] for r in by_obj),
        "by_object": [{"source": s, "object": o, "rows": n} for s, o, n in by_obj],
        "top_reasons": [{"source": s, "reason": k, "rows": n} for s, k, n in reasons],
    }


def quality_gate(wh: Warehouse) -> dict[str, Any]:
    if not _exists(wh, "meta.dq_results"):
        return {"ran": False}
    last = wh.query("select run_id from meta.dq_results order by validated_at desc limit 1")
    if not last:
        return {"ran": False}
    run_id = last[0][0]
    rows = wh.query(
        "select suite, expectation, coalesce(column_name, ''), severity, success, observed_value, unexpected_count "
        "from meta.dq_results where run_id = %s order by suite, expectation",
        (run_id,),
    )
    failed = [
        {"suite": s, "expectation": e, "column": c, "severity": sev, "observed": ov, "unexpected": uc}
        for s, e, c, sev, ok, ov, uc in rows
        if not ok
    ]
    return {
        "ran": True,
        "run_id": run_id,
        "suites": len({r[0] for r in rows}),
        "expectations": len(rows),
        "passed": sum(1 for r in rows if r[4]),
        "critical_failures": [f for f in failed if f["severity"] == "critical"],
        "warnings": [f for f in failed if f["severity"] == "warning"],
        "gate_passed": not any(f["severity"] == "critical" for f in failed),
    }


def models(wh: Warehouse) -> list[dict[str, Any]]:
    if not _exists(wh, "ml.model_runs"):
        return []
    rows = wh.query(
        "select distinct on (model) model, as_of_date, metrics from ml.model_runs order by model, trained_at desc"
    )
    return [{"model": m, "as_of": str(d), "metrics": met} for m, d, met in rows]


def alerts(wh: Warehouse) -> dict[str, Any]:
    """What the outbox delivered, per channel and severity, and what is left (pending, failed)."""
    out: dict[str, Any] = {"delivered": [], "by_channel": {}, "undelivered": {}, "crm": {}}
    if _exists(wh, "meta.outbox"):
        rows = wh.query(
            "select channel, coalesce(severity, '-'), kind, count(*) from meta.outbox where status = 'sent' "
            "group by 1, 2, 3 order by 1, 2, 3"
        )
        out["delivered"] = [{"channel": c, "severity": s, "kind": k, "count": n} for c, s, k, n in rows]
        for c, _, _, n in rows:
            out["by_channel"][c] = out["by_channel"].get(c, 0) + n
        out["undelivered"] = dict(
            wh.query("select status, count(*) from meta.outbox where status <> 'sent' group by 1 order by 1")
        )
        out["alerts"] = [
            {"key": k, "severity": s, "title": t, "channels": ch}
            for k, s, t, ch in wh.query(
                "select group_key, max(severity), max(title), string_agg(distinct channel, ',') from meta.outbox "
                "where kind = 'alert' group by 1 order by 1"
            )
        ]
        out["crm"] = {
            "tasks": wh.query("select count(*) from meta.outbox where channel = 'crm_task' and status = 'sent'")[0][0],
            "lists": [
                {"list": r, "result": e}
                for r, e in wh.query(
                    "select recipient, external_id from meta.outbox where channel = 'crm_list' and status = 'sent' "
                    "order by message_id"
                )
            ],
            "customer_emails": wh.query(
                "select count(*) from meta.outbox where kind = 'customer_email' and status = 'sent'"
            )[0][0],
        }
    out["sinks"] = sink_counts()
    return out


def sink_counts() -> dict[str, Any]:
    """What the loopback sinks actually received (absent when real Slack/SMTP are configured)."""
    counts: dict[str, Any] = {}
    slack_store = os.environ.get("SLACK_SIM_STORE")
    if slack_store and not os.environ.get("SLACK_BOT_TOKEN"):
        f = Path(slack_store) / "messages.jsonl"
        counts["slack_messages_received"] = sum(1 for _ in f.open()) if f.exists() else 0
    maildir = os.environ.get("SMTP_SIM_MAILDIR")
    if maildir:
        f = Path(maildir) / "index.jsonl"
        counts["emails_received"] = sum(1 for _ in f.open()) if f.exists() else 0
    return counts


def build_summary(
    stage_seconds: dict[str, float],
    total_seconds: float,
    ok: bool,
    error: str | None,
    as_of: date,
    wh: Warehouse | None = None,
) -> dict[str, Any]:
    wh = wh or Warehouse.from_connection()
    tables = rows_per_table(wh)
    return {
        "ok": ok,
        "error": error,
        "as_of": as_of.isoformat(),
        "simulation": {k: os.environ.get(k) for k in ("SIM_SEED", "SIM_SCALE", "SIM_YEARS")},
        "rows_per_source": {src: sum(tables.get(schema, {}).values()) for src, schema in SOURCE_SCHEMAS.items()},
        "rows_per_table": tables,
        "quarantine": quarantine(wh),
        "quality_gate": quality_gate(wh),
        "models": models(wh),
        "alerts": alerts(wh),
        "stage_seconds": stage_seconds,
        "total_seconds": total_seconds,
    }


def print_summary(s: dict[str, Any]) -> None:
    line = "-" * 72
    print(
        f"\n{line}\nRUN SUMMARY  as of {s['as_of']}  —  {'OK' if s['ok'] else 'FAILED'}  "
        f"({s['total_seconds']:.0f}s)\n{line}"
    )
    if s.get("error"):
        print("error: " + next((ln for ln in s["error"].splitlines() if ln.strip()), ""))
    print("\nRows loaded per source")
    for src, n in s["rows_per_source"].items():
        print(f"  {src:<12} {n:>10,}")
    print("\nRows per table")
    for schema, tables in s["rows_per_table"].items():
        for table, n in tables.items():
            print(f"  {schema + '.' + table:<46} {n:>10,}")
    q = s["quarantine"]
    print(f"\nQuarantined rows: {q['total']}")
    for r in q["by_object"]:
        print(f"  {r['source'] + '.' + r['object']:<46} {r['rows']:>10,}")
    for r in q["top_reasons"][:5]:
        print(f"    reason: {r['source']}: {r['reason'][:50]:<50} {r['rows']:>5}")
    g = s["quality_gate"]
    if g.get("ran"):
        print(
            f"\nQuality gate: {'PASSED' if g['gate_passed'] else 'FAILED'} — {g['passed']}/{g['expectations']} "
            f"expectations in {g['suites']} suites; {len(g['critical_failures'])} critical, "
            f"{len(g['warnings'])} warning(s)"
        )
        for f in g["critical_failures"] + g["warnings"]:
            print(f"  [{f['severity']}] {f['suite']}: {f['expectation']}({f['column']}) unexpected={f['unexpected']}")
    else:
        print("\nQuality gate: did not run")
    print("\nModels")
    for m in s["models"]:
        print(f"  {m['model']:<28} as of {m['as_of']}  {json.dumps(m['metrics'])}")
    a = s["alerts"]
    print("\nMessages delivered (channel, severity, kind)")
    for d in a["delivered"]:
        print(f"  {d['channel']:<9} {d['severity']:<10} {d['kind']:<15} {d['count']:>4}")
    print("  per channel: " + (", ".join(f"{c}={n}" for c, n in a["by_channel"].items()) or "none"))
    if a.get("undelivered"):
        print("  not delivered: " + ", ".join(f"{k}={v}" for k, v in a["undelivered"].items()))
    crm = a.get("crm") or {}
    if crm:
        print(f"  CRM tasks created: {crm['tasks']}; customer e-mails: {crm['customer_emails']}")
        for lst in crm["lists"]:
            print(f"  CRM list {lst['list']}: {lst['result']}")
    for al in a.get("alerts", []):
        print(f"    {al['severity']:<10} {al['title'][:80]}  [{al['channels']}]")
    if a["sinks"]:
        print("  loopback sinks received: " + ", ".join(f"{k}={v}" for k, v in a["sinks"].items()))
    print("\nWall time per stage")
    for stage, secs in s["stage_seconds"].items():
        print(f"  {stage:<40} {secs:>8.1f}s")
