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
    "raw_portal",
    "raw_mailbox",
    "raw_weather",
    "staging",
    "intermediate",
    "snapshots",
    "marts",
    "ml",
    "meta",
)
SOURCE_SCHEMAS = {
    "crm": "raw_crm", "cti": "raw_cti", "erp": "raw_erp", "mobile_app": "raw_app",
    "portal_analytics": "raw_portal", "mailbox": "raw_mailbox", "weather": "raw_weather",
}  # fmt: skip


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
    """Line-level quarantine: rows that could not load (`open`: not loaded since)."""
    if not _exists(wh, "meta.quarantine"):
        return {"total": 0, "open": 0, "by_object": [], "top_reasons": []}
    by_obj = wh.query(
        "select source, object, count(*), count(*) filter (where resolved_at is null) from meta.quarantine "
        "group by 1, 2 order by 1, 2"
    )
    reasons = wh.query(
        "select source, split_part(reason, ':', 1) as kind, count(*) from meta.quarantine "
        "group by 1, 2 order by 3 desc limit 10"
    )
    return {
        "total": sum(r[2] for r in by_obj),
        "open": sum(r[3] for r in by_obj),
        "by_object": [{"source": s, "object": o, "rows": n, "open": k} for s, o, n, k in by_obj],
        "top_reasons": [{"source": s, "reason": k, "rows": n} for s, k, n in reasons],
    }


def file_quarantine(wh: Warehouse) -> dict[str, Any]:
    """File-level quarantine of the CDR files: files held whole (not loaded), empty files among
    them, and the encodings of the files loaded."""
    out: dict[str, Any] = {"held": [], "empty_files": 0, "by_status": {}, "encodings": {}}
    if _exists(wh, "meta.cti_held_files"):
        out["by_status"] = dict(wh.query("select status, count(*) from meta.cti_held_files group by 1 order by 1"))
        out["held"] = [
            {"file": f, "reason": r, "rows_before": b, "rows_after": a}
            for f, r, b, a in wh.query(
                "select file_name, reason, rows_before, rows_after from meta.cti_held_files where status = 'held' "
                "order by file_name"
            )
        ]
        out["empty_files"] = sum(1 for h in out["held"] if h["reason"].startswith(("empty file", "empty replacement")))
    if _exists(wh, "meta.cti_files"):
        out["encodings"] = dict(
            wh.query("select coalesce(encoding, 'none'), count(*) from meta.cti_files group by 1 order by 1")
        )
    return out


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


def ml_outputs(wh: Warehouse) -> dict[str, Any]:
    """What the churn, segmentation and anomaly models wrote for their latest as-of day."""
    out: dict[str, Any] = {}
    if _exists(wh, "ml.churn_scores"):
        rows = wh.query(
            "select as_of_date, count(*), count(*) filter (where score > 50), count(*) filter (where score > 70), "
            "round(avg(score), 1) from ml.churn_scores where as_of_date = (select max(as_of_date) from ml.churn_scores) "
            "group by as_of_date"
        )
        top = wh.query(
            "select customer_id, score, band, reasons from ml.churn_scores "
            "where as_of_date = (select max(as_of_date) from ml.churn_scores) order by score desc, customer_id limit 3"
        )
        if rows:
            d, n, campaign, alert, mean = rows[0]
            out["churn"] = {
                "as_of": str(d), "customers": n, "retention_campaign": campaign, "above_70": alert,
                "mean_score": float(mean), "top": [{"customer": c, "score": s_, "band": b, "reasons": r}
                                                   for c, s_, b, r in top],
            }  # fmt: skip
    if _exists(wh, "ml.customer_segments"):
        rows = wh.query(
            "select segment, count(*) from ml.customer_segments "
            "where as_of_date = (select max(as_of_date) from ml.customer_segments) group by 1 order by 2 desc"
        )
        out["segments"] = {seg: n for seg, n in rows}
    if _exists(wh, "ml.anomalies"):
        rows = wh.query("select kind, count(*) from ml.anomalies group by 1 order by 1")
        latest = wh.query("select kind, explanation from ml.anomalies order by anomaly_date desc, score desc limit 3")
        out["anomalies"] = {
            "by_kind": {k: n for k, n in rows},
            "latest": [{"kind": k, "explanation": e} for k, e in latest],
        }
    if _exists(wh, "ml.feature_drift"):
        rows = wh.query(
            "select model, feature, round(psi::numeric, 3) from ml.feature_drift where is_warning and "
            "as_of_date = (select max(as_of_date) from ml.feature_drift) order by psi desc"
        )
        out["drift_warnings"] = [{"model": m, "feature": f, "psi": float(p)} for m, f, p in rows]
    return out


def forecast_and_routes(wh: Warehouse) -> dict[str, Any]:
    """The call forecast's next days and the next day's rounds, as the dashboards show them."""
    out: dict[str, Any] = {}
    if _exists(wh, "ml.call_volume_forecast"):
        rows = wh.query(
            "select target_date, round(yhat)::int, round(yhat_lower)::int, round(yhat_upper)::int, "
            "temperature_mean_c from ml.call_volume_forecast "
            "where forecast_date = (select max(forecast_date) from ml.call_volume_forecast) "
            "order by target_date limit 7"
        )
        out["forecast_next_days"] = [
            {"day": str(d), "calls": y, "low": lo, "high": hi, "temperature_c": t} for d, y, lo, hi, t in rows
        ]
    if _exists(wh, "ml.technician_routes"):
        rows = wh.query(
            "select route_date, count(*), count(distinct technician_id), "
            "round(sum(km_from_previous + km_to_home)::numeric, 1) from ml.technician_routes "
            "where route_date = (select max(route_date) from ml.technician_routes) group by route_date"
        )
        if rows:
            day, visits, technicians, km = rows[0]
            out["routes"] = {"route_date": str(day), "rows": visits, "technicians": technicians, "km": float(km)}
    return out


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
        out["reports"] = [
            {"report": k.split(":")[1], "period": k.split(":")[2], "by_channel": dict(zip(ch, n, strict=True))}
            for k, ch, n in wh.query(
                "select group_key, array_agg(channel order by channel), array_agg(n order by channel) from ("
                "select group_key, channel, count(*) as n from meta.outbox where kind = 'report' and status = 'sent' "
                "group by 1, 2) s group by 1 order by 1"
            )
        ]
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


def portal_office_kpis(wh: Warehouse, as_of: date) -> dict[str, Any]:
    """Portal conversion and the lead's admin time for the last complete month, and the mail tile of
    the as-of day with its month-to-date averages (issue 17's marts; absent before they are built)."""
    if not (_exists(wh, "marts.mart_kpi_portal_monthly") and _exists(wh, "marts.mart_kpi_mailbox_daily")):
        return {}
    month_end = as_of.replace(day=1)
    portal = wh.query(
        "select month_start, portal_sessions, portal_bookings_validated, portal_conversion_rate, "
        "portal_conversion_target, is_portal_conversion_alert, tracked_conversion_rate from marts.mart_kpi_portal_monthly "
        "where is_complete_month and month_start < %s order by month_start desc limit 1",
        (month_end,),
    )
    out: dict[str, Any] = {}
    if portal:
        month, sessions, bookings, rate, target, alert, tracked = portal[0]
        out["portal_conversion"] = {"month": str(month), "sessions": sessions, "validated_bookings": bookings,
                                    "rate": float(rate or 0), "target_above": float(target), "alert": alert,
                                    "ga4_tracked_rate": float(tracked or 0)}  # fmt: skip
        admin = wh.query(
            "select coalesce(full_name, staff_email), worked_hours, admin_hours, admin_time_share, "
            "admin_time_share_target_below, is_admin_time_alert from marts.mart_kpi_agent_monthly "
            "where is_service_lead and month_start = %s",
            (month,),
        )
        if admin:
            name, worked, hours, share, target, alert = admin[0]
            out["admin_time_lead"] = {"month": str(month), "who": name, "worked_hours": float(worked),
                                      "admin_hours": float(hours), "share": float(share or 0),
                                      "target_below": float(target), "alert": alert}  # fmt: skip
    tile = wh.query(
        "select kpi_date, emails_received, emails_handled, emails_waiting, avg_response_business_hours, "
        "response_target_hours from marts.mart_kpi_mailbox_daily where kpi_date <= %s order by kpi_date desc limit 1",
        (as_of,),
    )
    if tile:
        day, received, handled, waiting, hours, target = tile[0]
        out["mail_tile"] = {"day": str(day), "received": received, "handled": handled, "waiting": waiting,
                            "avg_response_business_hours": float(hours) if hours is not None else None,
                            "target_hours": float(target)}  # fmt: skip
    return out


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
        "portal_office_kpis": portal_office_kpis(wh, as_of),
        "file_quarantine": file_quarantine(wh),
        "quality_gate": quality_gate(wh),
        "models": models(wh),
        "ml_outputs": ml_outputs(wh),
        "forecast_and_routes": forecast_and_routes(wh),
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
        print(f"  {src:<17} {n:>10,}")
    print("\nRows per table")
    for schema, tables in s["rows_per_table"].items():
        for table, n in tables.items():
            print(f"  {schema + '.' + table:<46} {n:>10,}")
    fq = s["file_quarantine"]
    print(f"\nFile-level quarantine (CDR files held, not loaded): {len(fq['held'])} held, {fq['empty_files']} empty")
    for h in fq["held"]:
        counts = f" ({h['rows_before']} -> {h['rows_after']} rows)" if h["rows_after"] is not None else ""
        print(f"  {h['file']:<32} {h['reason'][:60]}{counts}")
    if fq["by_status"]:
        print("  held files by status: " + ", ".join(f"{k}={v}" for k, v in fq["by_status"].items()))
    if fq["encodings"]:
        print("  CDR files loaded by encoding: " + ", ".join(f"{k}={v}" for k, v in fq["encodings"].items()))
    q = s["quarantine"]
    print(f"\nLine-level quarantine (rows): {q['total']} ({q['open']} still open)")
    for r in q["by_object"]:
        print(f"  {r['source'] + '.' + r['object']:<46} {r['rows']:>10,}  open {r['open']:>6,}")
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
    k = s.get("portal_office_kpis") or {}
    if k:
        print("\nPortal, office time and mail tile")
        if p := k.get("portal_conversion"):
            print(f"  portal conversion {p['month']}: {p['rate']:.1%} (target > {p['target_above']:.0%}"
                  f"{', ALERT' if p['alert'] else ''}) = {p['validated_bookings']} validated bookings / "
                  f"{p['sessions']} GA4 sessions; GA4-tracked {p['ga4_tracked_rate']:.1%}")  # fmt: skip
        if a := k.get("admin_time_lead"):
            print(f"  admin time {a['who']} {a['month']}: {a['share']:.1%} (target < {a['target_below']:.0%}"
                  f"{', ALERT' if a['alert'] else ''}) = {a['admin_hours']:.1f} h / {a['worked_hours']:.1f} h")  # fmt: skip
        if m := k.get("mail_tile"):
            hours = "n/a" if m["avg_response_business_hours"] is None else f"{m['avg_response_business_hours']:.1f} h"
            print(f"  mails {m['day']}: received {m['received']}, handled {m['handled']}, waiting {m['waiting']}, "
                  f"average response {hours} (target < {m['target_hours']:.0f} h)")  # fmt: skip
    print("\nModels")
    for m in s["models"]:
        print(f"  {m['model']:<28} as of {m['as_of']}  {json.dumps(m['metrics'])}")
    ml = s.get("ml_outputs", {})
    if ml.get("churn"):
        c = ml["churn"]
        print(
            f"\nChurn risk as of {c['as_of']}: {c['customers']} customers scored (mean {c['mean_score']}), "
            f"{c['retention_campaign']} in the retention campaign (> 50), {c['above_70']} above 70"
        )
        for t in c["top"]:
            print(f"  {t['customer']:<10} {t['score']:>3} {t['band']:<7} {'; '.join(t['reasons'])}")
    if ml.get("segments"):
        print("\nCustomer segments: " + ", ".join(f"{k} {v}" for k, v in ml["segments"].items()))
    if ml.get("anomalies"):
        print("\nAnomalies: " + ", ".join(f"{k} {v}" for k, v in ml["anomalies"]["by_kind"].items()))
        for a_ in ml["anomalies"]["latest"]:
            print(f"  [{a_['kind']}] {a_['explanation'][:150]}")
    if ml.get("drift_warnings"):
        print(
            "Drift warnings (PSI > 0.2): "
            + ", ".join(f"{d['model']}.{d['feature']} {d['psi']}" for d in ml["drift_warnings"])
        )
    fr = s.get("forecast_and_routes") or {}
    metrics = {m["model"]: m["metrics"] for m in s["models"]}
    forecast = metrics.get("prophet_fr_holidays_weather") or {}
    if fr.get("forecast_next_days"):
        print(
            f"\nCall forecast (backtest J+1..J+30 before it: MAE {forecast.get('mae')}, WAPE {forecast.get('wape')}, "
            f"95% interval coverage {forecast.get('coverage_95')}; {forecast.get('days_with_weather_forecast')} days "
            "with a weather forecast)"
        )
        for d in fr["forecast_next_days"]:
            temp = "" if d["temperature_c"] is None else f"  {d['temperature_c']:5.1f} °C"
            print(f"  {d['day']}  {d['calls']:>4} calls  [{d['low']:>3}, {d['high']:>3}]{temp}")
    routes, planner = fr.get("routes"), metrics.get("route_planner_ortools") or {}
    if routes:
        saved = planner.get("km_saved_share")
        print(
            f"\nRoutes for {routes['route_date']}: {routes['rows']} visits, {routes['technicians']} technicians, "
            f"{routes['km']} km planned vs {planner.get('office_km')} km in the office's order"
            + (f" ({saved:.0%} saved)" if saved is not None else "")
            + f"; windows missed {planner.get('windows_missed')}"
        )
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
    for r in a.get("reports", []):
        channels = ", ".join(f"{c}={n}" for c, n in r["by_channel"].items())
        print(f"  report {r['report']:<10} {r['period']:<12} {channels}")
    if a["sinks"]:
        print("  loopback sinks received: " + ", ".join(f"{k}={v}" for k, v in a["sinks"].items()))
    print("\nWall time per stage")
    for stage, secs in s["stage_seconds"].items():
        print(f"  {stage:<40} {secs:>8.1f}s")
