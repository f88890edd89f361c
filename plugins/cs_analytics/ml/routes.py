"""Route planning, the Airflow-facing side of ml_tasks.routing: read the next day's visits from
marts.ml_route_stops, plan them, write ml.technician_routes and the run's summary.

The plan is made in `ml_scoring`, right after the quality gate publishes the marts: the nightly
app load brings every visit booked by the end of the as-of day, so the dispatcher has the next
day's rounds hours before the technicians leave at 08:00, from checked data. A separate evening
DAG would need its own intraday app load for bookings the nightly one brings anyway.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cs_analytics.config import LOCAL_TZ
from cs_analytics.ml.common import ensure_ml_schema, record_training
from cs_analytics.run_context import as_of_date
from cs_analytics.warehouse import Warehouse, copy_rows

log = logging.getLogger(__name__)

PLANNER = "ortools"
MODEL_NAME = "route_planner_ortools"
STOPS_SQL = """
select work_date, technician_id, intervention_id, latitude, longitude,
       window_start_minute as window_start_min, window_end_minute as window_end_min,
       expected_duration_minutes as duration_min, office_slot_minute as office_rank,
       home_latitude, home_longitude
from marts.ml_route_stops
where work_date = %s
order by technician_id, office_slot_minute, intervention_id
"""
COLUMNS = (
    "route_date", "planned_on", "technician_id", "position", "intervention_id", "office_technician_id",
    "planned_arrival", "window_start", "window_end", "duration_minutes", "km_from_previous",
    "minutes_from_previous", "km_to_home", "planner",
)  # fmt: skip


def _instant(day: date, minutes: float) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(LOCAL_TZ)) + timedelta(minutes=float(minutes))


def load_stops(wh: Warehouse, route_date: date):
    stops = wh.query_df(STOPS_SQL, (route_date,))
    technicians = (
        stops[["technician_id", "home_latitude", "home_longitude"]].drop_duplicates("technician_id")
        if len(stops)
        else stops
    )
    return stops, technicians


def plan_next_day(wh: Warehouse, asof: date, run_id: str | None = None) -> dict[str, Any]:
    """Plan the day after `asof` and replace its rows in ml.technician_routes."""
    from ml_tasks.routing import plan_routes, savings

    route_date = asof + timedelta(days=1)
    stops, technicians = load_stops(wh, route_date)
    if len(stops):
        visits, days = plan_routes(stops, technicians, planner=PLANNER)
        day = days.iloc[0].to_dict()
    else:
        # A Sunday or a holiday: nobody is booked. Recorded as such, not as a failure.
        log.warning("no visit booked for %s: no route to plan", route_date)
        visits, day = None, {"technicians": 0, "visits": 0, "km": 0.0, "office_km": 0.0}
    summary = {
        "route_date": route_date.isoformat(),
        **{k: (v.item() if hasattr(v, "item") else v) for k, v in day.items() if k != "work_date"},
        "km_saved_share": round(savings(float(day["km"]), float(day["office_km"])), 4),
    }
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        conn.execute("delete from ml.technician_routes where route_date = %s", (route_date,))
        if visits is not None and len(visits):
            with conn.cursor() as cur:
                copy_rows(
                    cur,
                    "ml.technician_routes",
                    COLUMNS,
                    (
                        (
                            route_date,
                            asof,
                            r.technician_id,
                            int(r.position),
                            r.intervention_id,
                            r.office_technician_id,
                            _instant(route_date, r.planned_arrival_min),
                            _instant(route_date, r.window_start_min),
                            _instant(route_date, r.window_end_min),
                            int(r.duration_min),
                            float(r.km_from_previous),
                            float(r.minutes_from_previous),
                            float(r.km_to_home),
                            PLANNER,
                        )
                        for r in visits.itertuples()
                    ),
                )
        record_training(conn, MODEL_NAME, asof, summary, run_id)
    log.info("routes for %s: %s", route_date, summary)
    return {"model": MODEL_NAME, "as_of": asof.isoformat(), "rows": 0 if visits is None else len(visits), **summary}


def run_route_planning(context: dict[str, Any]) -> dict[str, Any]:
    """Task entry point of ml_scoring: plan the day after the run's as-of day."""
    return plan_next_day(Warehouse.for_flow("ml"), as_of_date(context), context.get("run_id"))
