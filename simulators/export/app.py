"""The technicians' mobile-app store as it stands at the end of `end_date`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulators import stores
from simulators.world import World
from simulators.world.clock import format_paris_iso, format_utc_z
from simulators.world.field import intervention_state


def technician_payloads(world: World) -> list[dict]:
    updated = format_utc_z(np.array([world.history_start]))[0]
    return [
        {
            "id": t.technician_id,
            "first_name": t.first_name,
            "last_name": t.last_name,
            "email": t.email,
            "phone": t.phone,
            "home_base": {"city": t.city, "latitude": t.latitude, "longitude": t.longitude},
            "skills": list(t.skills),
            "active": True,
            "updated_at": updated,
        }
        for t in world.technicians.itertuples()
    ]


def intervention_payloads(world: World) -> list[dict]:
    """Visits booked by the snapshot whose slot is on or after the first exported day."""
    visits = world.field.interventions
    visible = (visits["created_utc"] < world.snapshot) & (visits["scheduled_start_utc"] >= world.history_start)
    v = visits[visible].reset_index(drop=True)
    status, updated = intervention_state(v, world.snapshot)
    started = np.isin(status, ["in_progress", "done"])
    done = status == "done"
    customers = world.customers.iloc[v["customer"].to_numpy()]
    name = np.where(
        customers["company"].notna(), customers["company"], customers["first_name"] + " " + customers["last_name"]
    )
    columns = {
        "technician_id": world.technicians["technician_id"].to_numpy()[v["technician"]],
        "customer_code": customers["erp_code"].to_numpy(),
        "customer_name": name,
        "customer_phone": customers["app_phone"].to_numpy(),
        "type": v["type"].to_numpy(),
        "booked_via": v["booked_via"].to_numpy(),
        "scheduled_start": format_paris_iso(v["scheduled_start_utc"].to_numpy()),
        "scheduled_end": format_paris_iso(v["scheduled_end_utc"].to_numpy()),
        "actual_start": format_paris_iso(np.where(started, v["actual_start_utc"], np.datetime64("NaT"))),
        "actual_end": format_paris_iso(np.where(done, v["actual_end_utc"], np.datetime64("NaT"))),
        "street": customers["street"].to_numpy(),
        "postal_code": customers["postal_code"].to_numpy(),
        "city": customers["city"].to_numpy(),
        "latitude": customers["latitude"].astype(float).to_numpy(),
        "longitude": customers["longitude"].astype(float).to_numpy(),
        "satisfaction_score": np.where(done & v["satisfaction"].notna(), v["satisfaction"], None),
        "signed_by": np.where(done, v["signed_by"], None),
        "report": np.where(done | (status == "cancelled"), v["report"], ""),
        "created_at": format_paris_iso(v["created_utc"].to_numpy()),
        "updated_at": format_utc_z(updated),
    }
    lists = {name: np.asarray(values, dtype=object).tolist() for name, values in columns.items()}
    lists["id"] = v["intervention_id"].tolist()
    lists["status"] = status.tolist()
    return [
        {
            "id": row["id"],
            "technician_id": row["technician_id"],
            "customer_code": row["customer_code"],
            "customer_name": row["customer_name"],
            "customer_phone": row["customer_phone"],
            "type": row["type"],
            "status": row["status"],
            "booked_via": row["booked_via"],
            "scheduled_start": row["scheduled_start"],
            "scheduled_end": row["scheduled_end"],
            "actual_start": row["actual_start"],
            "actual_end": row["actual_end"],
            "address": {
                "street": row["street"],
                "postal_code": row["postal_code"],
                "city": row["city"],
                "latitude": row["latitude"],
                "longitude": row["longitude"],
            },
            "satisfaction_score": None if row["satisfaction_score"] is None else int(row["satisfaction_score"]),
            "signed_by": row["signed_by"],
            "report": row["report"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
        for row in _rows(lists)
    ]


def _rows(lists: dict[str, list]) -> list[dict]:
    """Column lists to one dict per row (plain Python values, ready for JSON)."""
    names = list(lists)
    return [dict(zip(names, values, strict=True)) for values in zip(*lists.values(), strict=True)]


def field_quote_state(world: World) -> pd.DataFrame:
    """Field quotes written by the snapshot and touched during the exported period, with their status then."""
    quotes = world.field.field_quotes
    snapshot = world.snapshot
    created, decided = quotes["created_utc"], quotes["decided_utc"]
    in_period = (created >= world.history_start) | ((decided >= world.history_start) & (decided < snapshot))
    q = quotes[in_period & (created < snapshot)].reset_index(drop=True)
    decided = q["decided_utc"].to_numpy() < snapshot
    sent = q["sent_utc"].to_numpy() < snapshot
    status = np.where(decided, q["outcome"], np.where(sent, "sent", "draft"))
    updated = np.select([decided, sent], [q["decided_utc"], q["sent_utc"]], default=q["created_utc"])
    documents = world.ledger.documents
    sage_quotes = documents[(documents["prefix"] == "DE") & documents["reference"].notna()]
    erp_number = q["field_quote_id"].map(dict(zip(sage_quotes["reference"], sage_quotes["piece"], strict=True)))
    accepted_seen = decided & (q["outcome"].to_numpy() == "accepted")
    return q.assign(
        status=status,
        updated_utc=updated,
        decided_seen=np.where(decided, q["decided_utc"], np.datetime64("NaT")),
        erp_quote_number=np.where(accepted_seen, erp_number, None),
    )


def field_quote_payloads(world: World) -> list[dict]:
    q = field_quote_state(world)
    lists = {
        "id": q["field_quote_id"].tolist(),
        "intervention_id": q["intervention_id"].tolist(),
        "technician_id": world.technicians["technician_id"].to_numpy()[q["technician"]].tolist(),
        "customer_code": world.customers["erp_code"].to_numpy()[q["customer"]].tolist(),
        "amount_ht": q["amount"].astype(float).tolist(),
        "currency": ["EUR"] * len(q),
        "status": q["status"].astype(str).tolist(),
        "erp_quote_number": q["erp_quote_number"].tolist(),
        "created_at": format_paris_iso(q["created_utc"].to_numpy()).tolist(),
        "decided_at": format_paris_iso(q["decided_seen"].to_numpy()).tolist(),
        "updated_at": format_utc_z(q["updated_utc"].to_numpy()).tolist(),
    }
    return _rows(lists)


def time_entry_payloads(world: World) -> list[dict]:
    """The time clock: technicians' entries, and the office staff's (`staff_id`, `staff_email`,
    kinds phone / email / admin / meeting / break, no technician), in id order."""

    def visible(entries: pd.DataFrame) -> pd.DataFrame:
        keep = (entries["clock_in_utc"] >= world.history_start) & (entries["synced_utc"] < world.snapshot)
        return entries[keep].reset_index(drop=True)

    def common(e: pd.DataFrame) -> dict[str, list]:
        return {
            "id": e["time_entry_id"].tolist(),
            "technician_id": e["technician_id"].tolist() if "technician_id" in e else [None] * len(e),
            "work_date": np.datetime_as_string(e["work_date"].to_numpy().astype("datetime64[D]")).tolist(),
            "clock_in": format_paris_iso(e["clock_in_utc"].to_numpy()).tolist(),
            "clock_out": format_paris_iso(e["clock_out_utc"].to_numpy()).tolist(),
            "kind": e["kind"].tolist(),
            "intervention_id": e["intervention_id"].tolist() if "intervention_id" in e else [None] * len(e),
            "updated_at": format_utc_z(e["synced_utc"].to_numpy()).tolist(),
        }

    technicians = _rows(common(visible(world.field.time_entries)))
    office = visible(world.office_time)
    staff = _rows(
        {**common(office), "staff_id": office["staff_id"].tolist(), "staff_email": office["staff_email"].tolist()}
    )
    return sorted(technicians + staff, key=lambda r: r["id"])


def write_app_store(world: World, path: Path) -> dict[str, int]:
    conn = stores.connect_app(path)
    try:
        counts = {
            "technicians": stores.upsert_app_records(conn, "technicians", technician_payloads(world)),
            "interventions": stores.upsert_app_records(conn, "interventions", intervention_payloads(world)),
            "field-quotes": stores.upsert_app_records(conn, "field-quotes", field_quote_payloads(world)),
            "time-entries": stores.upsert_app_records(conn, "time-entries", time_entry_payloads(world)),
        }
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    return counts
