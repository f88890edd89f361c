"""Ground truth: what the world planted, for tests and benchmarks only (never the pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simulators.export.cti import CtiOutbox, file_name
from simulators.world import World
from simulators.world.clock import format_paris_iso, utc_to_paris
from simulators.world.config import FORECAST_TRUTH_DAYS, GENERATOR_VERSION

FILES = (
    "manifest.json",
    "daily_calls.csv",
    "customers.csv",
    "churn.csv",
    "anomalies.csv",
    "identity_map.csv",
    "unknown_numbers.csv",
    "cti_defects.csv",
    "interventions.csv",
    "missing_time_entries.csv",
    "customer_service_costs.csv",
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
        "anomalies.csv": anomalies(world),
        "identity_map.csv": identity_map(world),
        "unknown_numbers.csv": unknown_numbers(world),
        "cti_defects.csv": cti.defects,
        "interventions.csv": intervention_truth(world),
        "missing_time_entries.csv": missing_time_entries(world),
        "customer_service_costs.csv": customer_service_costs(world),
    }
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
