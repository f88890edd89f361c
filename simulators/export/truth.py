"""Ground truth: what the world planted, for tests and benchmarks only (never the pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simulators import ga4_api
from simulators.export.crm import ticket_defects, ticket_ids_by_row
from simulators.export.cti import CtiOutbox, file_name
from simulators.export.mailbox import mailbox_state
from simulators.export.portal import traffic_rows
from simulators.world import World
from simulators.world.clock import format_paris_iso, format_utc_z, utc_to_paris
from simulators.world.config import FORECAST_TRUTH_DAYS, GENERATOR_VERSION
from simulators.world.tickets import _business_hours

FILES = (
    "manifest.json",
    "daily_calls.csv",
    "customers.csv",
    "churn.csv",
    "churn_panel.csv",
    "segments_monthly.csv",
    "anomalies.csv",
    "identity_map.csv",
    "unknown_numbers.csv",
    "cti_defects.csv",
    "crm_defects.csv",
    "interventions.csv",
    "missing_time_entries.csv",
    "customer_service_costs.csv",
    "portal_daily.csv",
    "portal_monthly.csv",
    "mailbox_messages.csv",
    "mailbox_daily.csv",
    "office_time_monthly.csv",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _date_text(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"))


def daily_calls(world: World, cti: CtiOutbox) -> pd.DataFrame:
    calendar = world.calendar
    last = world.end_index + FORECAST_TRUTH_DAYS
    c = calendar.iloc[world.start_index : last + 1]
    dates = pd.to_datetime(c["date"])
    actual = pd.array(dates.map(cti.rows_per_day), dtype="Int64")  # empty for future days
    return pd.DataFrame(
        {
            "date": dates.dt.strftime("%Y-%m-%d"),
            "expected_calls": c["expected_calls"].round(3).to_numpy(),
            "actual_calls": actual,
            "is_future": (dates > pd.Timestamp(world.config.end_date)).to_numpy(),
            "is_holiday": c["is_holiday"].to_numpy(),
            "is_spike": c["is_spike"].to_numpy(),
            "weekday": np.array(WEEKDAYS)[c["weekday"]],
            "temperature_c": c["temperature_c"].to_numpy(),
            "weather_event": c["weather_event"].to_numpy(),
        }
    )


def customer_truth(world: World) -> pd.DataFrame:
    exported = world.exported_customers
    customers = world.customers[exported]
    churn_day = world.behaviour.churn_day[exported]
    gone = churn_day < len(world.calendar)
    churn_date = np.where(
        gone, _date_text(np.datetime64(world.config.warmup_start, "D") + np.minimum(churn_day, len(world.calendar))), ""
    )
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "crm_contact_id": customers["crm_contact_id"].to_numpy(),
            "erp_code": customers["erp_code"].to_numpy(),
            "segment": world.true_segments()[exported],
            "vip": customers["vip"].to_numpy(),
            "customer_type": customers["customer_type"].to_numpy(),
            "signup_date": _date_text(np.array(customers["signup_date"], dtype="datetime64[D]")),
            "churn_date": churn_date,
            "status_at_end": np.where(churn_day <= world.end_index, "lost", "active"),
            "email": customers["email"].to_numpy(),
            "phone_e164": ("+33" + customers["mobile"]).to_numpy(),
            "latitude": customers["latitude"].to_numpy(),
            "longitude": customers["longitude"].to_numpy(),
        }
    )


def churn_truth(world: World, customers: pd.DataFrame) -> pd.DataFrame:
    truth = world.churn_truth()
    ids = world.customers.iloc[truth["customer"]]
    by_id = customers.set_index("customer_id")["churn_date"]
    return pd.DataFrame(
        {
            "customer_id": ids["customer_id"].to_numpy(),
            "crm_contact_id": ids["crm_contact_id"].to_numpy(),
            "erp_code": ids["erp_code"].to_numpy(),
            "churn_prob_180d": truth["churn_prob_180d"].to_numpy(),
            "churned_within_180d": truth["churned_within_180d"].to_numpy(),
            "churn_date": np.where(truth["churned_within_180d"], by_id.loc[ids["customer_id"]].to_numpy(), ""),
            "latent_dissatisfaction": truth["latent_dissatisfaction"].to_numpy(),
        }
    )


def churn_panel(world: World) -> pd.DataFrame:
    panel = world.churn_panel()
    ids = world.customers.iloc[panel["customer"]]
    churn_date = np.datetime64(world.config.warmup_start, "D") + world.behaviour.churn_day[panel["customer"]]
    return pd.DataFrame(
        {
            "as_of_date": _date_text(np.datetime64(world.config.warmup_start, "D") + panel["as_of_day"].to_numpy()),
            "customer_id": ids["customer_id"].to_numpy(),
            "erp_code": ids["erp_code"].to_numpy(),
            "churn_prob_180d": panel["churn_prob_180d"].to_numpy(),
            "churned_within_180d": panel["churned_within_180d"].to_numpy(),
            "churn_date": np.where(panel["churned_within_180d"], _date_text(churn_date), ""),
        }
    )


def _month_ends(world: World) -> list[int]:
    """Day indexes of the month ends of the exported history, and of `end_date`."""
    days = pd.date_range(world.config.start_date, world.config.end_date, freq="ME")
    return sorted({*(world.day_index(d) for d in days), world.end_index})


def segments_monthly(world: World) -> pd.DataFrame:
    exported = world.exported_customers
    frames = []
    for day in _month_ends(world):
        segment = world.true_segments_at(day)
        keep = exported & (segment != "")
        frames.append(
            pd.DataFrame(
                {
                    "as_of_date": _date_text(np.datetime64(world.config.warmup_start, "D") + day),
                    "customer_id": world.customers["customer_id"].to_numpy()[keep],
                    "erp_code": world.customers["erp_code"].to_numpy()[keep],
                    "segment": segment[keep],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def anomalies(world: World) -> pd.DataFrame:
    c = world.calendar.iloc[world.start_index : world.end_index + 1]
    spikes = c[c["is_spike"]]
    spike_dates = np.array(spikes["date"], dtype="datetime64[D]")
    rows = [
        pd.DataFrame(
            {
                "kind": "call_spike_day",
                "date": _date_text(spike_dates),
                "reference": [file_name(d) for d in spike_dates],
                "description": [f"planted call spike: expected volume x{f:.2f}" for f in spikes["spike_factor"]],
            }
        )
    ]
    documents = world.ledger.documents.set_index("doc_key")
    planted = world.ledger.anomalies
    created = documents.loc[planted["doc_key"], "created_utc"].to_numpy()
    visible = (created >= world.history_start) & (created < world.snapshot)
    rows.append(
        pd.DataFrame(
            {
                "kind": planted["kind"].to_numpy()[visible],
                "date": _date_text(utc_to_paris(created[visible]).astype("datetime64[D]")),
                "reference": documents.loc[planted["doc_key"], "piece"].to_numpy()[visible],
                "description": planted["description"].to_numpy()[visible],
            }
        )
    )
    vips = world.behaviour.vip_low_satisfaction
    rows.append(
        pd.DataFrame(
            {
                "kind": "vip_low_satisfaction",
                "date": _date_text(
                    np.datetime64(world.config.warmup_start, "D") + vips["day"].to_numpy().astype("timedelta64[D]")
                ),
                "reference": world.customers["crm_contact_id"].to_numpy()[vips["customer"]],
                "description": "VIP customer answering a CSAT survey with 1/5 after a complaint",
            }
        )
    )
    return pd.concat(rows, ignore_index=True).sort_values(["date", "kind", "reference"], kind="stable")


def identity_map(world: World) -> pd.DataFrame:
    customers = world.customers[world.exported_customers]
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "crm_contact_id": customers["crm_contact_id"].to_numpy(),
            "erp_code": customers["erp_code"].to_numpy(),
            "app_customer_code": customers["erp_code"].to_numpy(),
            "crm_email": customers["crm_email"].to_numpy(),
            "erp_email": customers["erp_email"].to_numpy(),
            "crm_phone": customers["crm_phone"].to_numpy(),
            "crm_mobile": customers["crm_mobile"].to_numpy(),
            "erp_phone": customers["erp_phone"].to_numpy(),
            "app_phone": customers["app_phone"].to_numpy(),
            "cti_numbers": (
                "+33"
                + customers["mobile"]
                + np.where(customers["landline"].notna(), "|+33" + customers["landline"].fillna(""), "")
            ).to_numpy(),
            "crm_has_erp_code": customers["crm_has_erp_code"].to_numpy(),
            "email_typo_in": customers["email_typo"].to_numpy(),
        }
    )


def unknown_numbers(world: World) -> pd.DataFrame:
    calls = world.calls
    local_date = calls["local_date"].to_numpy().astype("datetime64[D]")
    history = (local_date >= np.datetime64(world.config.start_date)) & (
        local_date <= np.datetime64(world.config.end_date)
    )
    strangers = calls[history & (calls["customer"] < 0).to_numpy()]
    numbers = np.where(strangers["direction"] == "inbound", strangers["caller_number"], strangers["called_number"])
    counts = pd.Series(numbers).value_counts()
    table = world.unknown_numbers[["phone_e164", "kind"]].assign(
        calls=lambda f: f["phone_e164"].map(counts).fillna(0).astype(int)
    )
    return table[table["calls"] > 0].sort_values("phone_e164").reset_index(drop=True)


def intervention_truth(world: World) -> pd.DataFrame:
    visits = world.field.interventions
    local_day = utc_to_paris(visits["scheduled_start_utc"].to_numpy()).astype("datetime64[D]")
    first = np.datetime64(world.config.start_date, "D")
    last = np.datetime64(world.config.end_date, "D") + FORECAST_TRUTH_DAYS
    keep = (local_day >= first) & (local_day <= last) & ~visits["cancelled"].to_numpy()
    v = visits[keep]
    return pd.DataFrame(
        {
            "intervention_id": v["intervention_id"].to_numpy(),
            "technician_id": world.technicians["technician_id"].to_numpy()[v["technician"]],
            "date": _date_text(local_day[keep]),
            "latitude": v["latitude"].to_numpy(),
            "longitude": v["longitude"].to_numpy(),
            "scheduled_start": format_paris_iso(v["scheduled_start_utc"].to_numpy()),
            "duration_min": v["planned_minutes"].to_numpy(),
        }
    ).sort_values(["date", "technician_id", "scheduled_start", "intervention_id"], kind="stable")


def missing_time_entries(world: World) -> pd.DataFrame:
    missing = world.field.missing_time_entries
    day = missing["work_date"].to_numpy().astype("datetime64[D]")
    keep = day >= np.datetime64(world.config.start_date, "D")
    return pd.DataFrame(
        {"technician_id": missing["technician_id"].to_numpy()[keep], "work_date": _date_text(day[keep])}
    ).sort_values(["work_date", "technician_id"], kind="stable")


def customer_service_costs(world: World) -> pd.DataFrame:
    """What the desk cost each exported month (the analytic section SERVCLIENT of the Sage
    ledger, whether posted by the snapshot or not) and the calls its agents handled."""
    costs = world.general_ledger.customer_service_costs
    first = f"{world.config.start_date:%Y-%m}"
    last = f"{world.config.end_date:%Y-%m}"
    return costs[(costs["month"] >= first) & (costs["month"] <= last)].reset_index(drop=True)


def portal_daily(world: World) -> pd.DataFrame:
    """Per day of the history: every portal visit, the ones GA4 records (consent), what GA4 shows at the
    snapshot (recent days still processing) and the app's portal bookings that day (validated: not
    cancelled by the snapshot)."""
    days = pd.date_range(world.config.start_date, world.config.end_date, freq="D")
    visits = world.portal.visits
    true_visits = visits.groupby("local_date").size()
    final = traffic_rows(world)
    final = final[final["path"] == ""].set_index("day")["sessions"]
    snapshot = pd.Timestamp(world.snapshot).tz_localize("UTC").to_pydatetime()
    keys = days.strftime("%Y%m%d")
    final = final.reindex(keys).fillna(0).astype(int)
    at_snapshot = [
        int(np.floor(v * ga4_api.processed_share(k, snapshot, ""))) for k, v in zip(keys, final, strict=True)
    ]
    visits_by_day = true_visits.reindex(days.to_numpy().astype("datetime64[D]")).fillna(0).astype(int)
    bookings = world.field.interventions
    bookings = bookings[bookings["booked_via"] == "portal"]
    booked_day = utc_to_paris(bookings["created_utc"].to_numpy()).astype("datetime64[D]")
    cancelled = bookings["cancelled_utc"].to_numpy() <= world.snapshot
    booked = pd.Series(1, index=booked_day).groupby(level=0).sum()
    validated = pd.Series(~cancelled, index=booked_day).groupby(level=0).sum()
    index = days.to_numpy().astype("datetime64[D]")
    return pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "true_visits": visits_by_day.to_numpy(),
            "ga_sessions": final.to_numpy(),
            "ga_sessions_at_snapshot": at_snapshot,
            "portal_bookings": booked.reindex(index).fillna(0).astype(int).to_numpy(),
            "portal_bookings_validated": validated.reindex(index).fillna(0).astype(int).to_numpy(),
        }
    )


def portal_monthly(daily: pd.DataFrame) -> pd.DataFrame:
    """The specification's portal conversion per calendar month: validated portal bookings / GA4 sessions
    (final figures), and the true rate over every visit, consent or not."""
    month = daily["date"].str[:7]
    m = daily.groupby(month)[["true_visits", "ga_sessions", "portal_bookings_validated"]].sum()
    m["conversion_rate"] = (m["portal_bookings_validated"] / m["ga_sessions"]).round(4)
    m["true_conversion_rate"] = (m["portal_bookings_validated"] / m["true_visits"]).round(4)
    return m.reset_index(names="month")


def mailbox_messages(world: World) -> pd.DataFrame:
    """Every message delivered by the snapshot: kind, sender, the customer and CRM ticket behind it."""
    m = mailbox_state(world)
    ticket_ids = ticket_ids_by_row(world)
    customer_ids = world.customers["customer_id"].to_numpy()
    return pd.DataFrame(
        {
            "message_id": m["message_id"].to_numpy(),
            "kind": m["kind"].to_numpy(),
            "received_at": format_utc_z(m["received_utc"].to_numpy()),
            "handled_at": format_utc_z(np.where(m["is_handled"], m["handled_utc"], np.datetime64("NaT"))),
            "is_removed": m["is_removed"].to_numpy(),
            "sender_address": m["from_address"].to_numpy(),
            "customer_id": np.where(m["customer"] >= 0, customer_ids[m["customer"].clip(0)], ""),
            "crm_ticket_id": m["ticket_row"].map(ticket_ids).fillna("").to_numpy(),
        }
    )


def mailbox_daily(world: World) -> pd.DataFrame:
    """The operations dashboard's mail tile per day of the history, as the snapshot shows it: received
    (messages the inbox kept or that were handled), handled that day, waiting at the end of the day,
    and the average business and calendar hours from receipt to handling of the messages handled that day."""
    m = mailbox_state(world)
    counted = m[m["is_handled"] | ~m["is_removed"]]
    received_wall = utc_to_paris(counted["received_utc"].to_numpy())
    handled_utc = np.where(counted["is_handled"], counted["handled_utc"], np.datetime64("NaT")).astype("datetime64[s]")
    handled_wall = utc_to_paris(handled_utc)
    business = _business_hours(world.calendar)
    handled = ~np.isnat(handled_utc)
    business_hours = np.full(len(counted), np.nan)
    business_hours[handled] = business.elapsed(received_wall[handled], handled_wall[handled]) / 3600
    calendar_hours = (handled_utc - counted["received_utc"].to_numpy()).astype("float64") / 3600
    days = pd.date_range(world.config.start_date, world.config.end_date, freq="D").to_numpy().astype("datetime64[D]")
    received_day = received_wall.astype("datetime64[D]")
    handled_day = handled_wall.astype("datetime64[D]")
    frame = pd.DataFrame({"received_day": received_day, "handled_day": handled_day, "business": business_hours,
                          "calendar": calendar_hours})  # fmt: skip
    received = frame.groupby("received_day").size().reindex(days).fillna(0).astype(int)
    done = frame[handled].groupby("handled_day")
    handled_count = done.size().reindex(days).fillna(0).astype(int)
    # Waiting at the end of a day: received by then, not handled by then.
    arrivals = received.cumsum()
    departures = handled_count.cumsum()
    before_history = ((received_day < days[0]) & ~(handled & (handled_day < days[0]))).sum()
    return pd.DataFrame(
        {
            "date": np.datetime_as_string(days),
            "received": received.to_numpy(),
            "handled": handled_count.to_numpy(),
            "waiting_end_of_day": (arrivals - departures + before_history).to_numpy(),
            "avg_response_business_hours": done["business"].mean().reindex(days).round(4).to_numpy(),
            "avg_response_calendar_hours": done["calendar"].mean().reindex(days).round(4).to_numpy(),
        }
    )


def office_time_monthly(world: World) -> pd.DataFrame:
    """Clocked hours of the office staff per month (breaks excluded) and the admin share; the
    service lead (Claire) first."""
    e = world.office_time
    e = e[(e["clock_in_utc"] >= world.history_start) & (e["synced_utc"] < world.snapshot) & (e["kind"] != "break")]
    hours = (e["clock_out_utc"] - e["clock_in_utc"]).dt.total_seconds() / 3600
    month = pd.to_datetime(e["work_date"]).dt.strftime("%Y-%m")
    frame = pd.DataFrame({"staff_id": e["staff_id"], "staff_email": e["staff_email"], "month": month,
                          "hours": hours, "admin": np.where(e["kind"] == "admin", hours, 0.0)})  # fmt: skip
    g = frame.groupby(["staff_id", "staff_email", "month"])[["hours", "admin"]].sum().reset_index()
    g = g.rename(columns={"hours": "worked_hours", "admin": "admin_hours"})
    g["admin_share"] = (g["admin_hours"] / g["worked_hours"]).round(4)
    g["is_service_lead"] = g["staff_id"] == "OFF-01"
    g[["worked_hours", "admin_hours"]] = g[["worked_hours", "admin_hours"]].round(4)
    return g


def write_ground_truth(
    world: World, directory: Path, cti: CtiOutbox, store_counts: dict[str, dict[str, int]]
) -> dict[str, int]:
    """Write every ground-truth file and the manifest; returns the rows per file."""
    directory.mkdir(parents=True, exist_ok=True)
    customers = customer_truth(world)
    tables = {
        "daily_calls.csv": daily_calls(world, cti),
        "customers.csv": customers,
        "churn.csv": churn_truth(world, customers),
        "churn_panel.csv": churn_panel(world),
        "segments_monthly.csv": segments_monthly(world),
        "anomalies.csv": anomalies(world),
        "identity_map.csv": identity_map(world),
        "unknown_numbers.csv": unknown_numbers(world),
        "cti_defects.csv": cti.defects,
        "crm_defects.csv": ticket_defects(world),
        "interventions.csv": intervention_truth(world),
        "missing_time_entries.csv": missing_time_entries(world),
        "customer_service_costs.csv": customer_service_costs(world),
    }
    portal = portal_daily(world)
    tables.update(
        {
            "portal_daily.csv": portal,
            "portal_monthly.csv": portal_monthly(portal),
            "mailbox_messages.csv": mailbox_messages(world),
            "mailbox_daily.csv": mailbox_daily(world),
            "office_time_monthly.csv": office_time_monthly(world),
        }
    )
    counts = {}
    for name, table in tables.items():
        table.to_csv(directory / name, index=False, lineterminator="\n")
        counts[name] = len(table)
    config = world.config
    manifest = {
        "seed": config.seed,
        "scale": config.scale,
        "years": config.years,
        "start_date": config.start_date.isoformat(),
        "end_date": config.end_date.isoformat(),
        "warmup_start": config.warmup_start.isoformat(),
        "horizon_end": config.horizon_end.isoformat(),
        "snapshot_utc": str(world.snapshot) + "Z",
        "generator_version": GENERATOR_VERSION,
        "row_counts": {**store_counts, "ground_truth": counts},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return counts
