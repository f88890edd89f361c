"""What the reports read from the warehouse: the marts (KPIs with their targets and flags), the
delivery log of the alerts, the planned visits and routes, the segments, the customers.

Every figure a report prints comes from here; nothing is recomputed from raw data. Optional
sources (a table another flow fills: ml.technician_routes, ml.customer_segments, weather
columns) are looked up first: absent or empty, the report says so instead of failing.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd

from cs_analytics.config import LOCAL_TZ
from cs_analytics.reports.periods import Period


class ReportDataError(ValueError):
    """The marts have nothing for the period a report is about: no report with blanks."""


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(LOCAL_TZ))


def has_rows(wh, relation: str) -> bool:
    if not wh.query("select to_regclass(%s) is not null", (relation,))[0][0]:
        return False
    return bool(wh.query(f"select exists (select 1 from {relation})")[0][0])  # relation: our own constants


def columns(wh, relation: str) -> set[str]:
    schema, _, table = relation.partition(".")
    rows = wh.query(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table),
    )
    return {r[0] for r in rows}


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in df.to_dict("records")]


def period_row(wh, relation: str, column: str, period: Period) -> dict | None:
    df = wh.query_df(f"select * from {relation} where {column} = %s", (period.start,))
    return _records(df)[0] if len(df) else None


def period_series(wh, relation: str, column: str, last: Period, count: int) -> pd.DataFrame:
    """The `count` periods up to `last`, oldest first (for trend charts)."""
    first = last.shifted(-(count - 1))
    return wh.query_df(
        f"select * from {relation} where {column} between %s and %s order by {column}", (first.start, last.start)
    )


def daily_rows(wh, start: date, end: date) -> pd.DataFrame:
    """mart_kpi_daily over [start, end), with the day's mean temperature when a mart has it."""
    df = wh.query_df("select * from marts.mart_kpi_daily where kpi_date >= %s and kpi_date < %s order by kpi_date",
                     (start, end))  # fmt: skip
    if len(df) and "temperature_mean_c" in columns(wh, "marts.ml_daily_calls"):
        temps = wh.query_df(
            "select ds as kpi_date, temperature_mean_c from marts.ml_daily_calls where ds >= %s and ds < %s",
            (start, end),
        )
        df = df.merge(temps, on="kpi_date", how="left")
    return df


def motives(wh, start: date, end: date) -> pd.DataFrame:
    """Inbound calls and tickets per contact motive over [start, end), most frequent first."""
    return wh.query_df(
        """
        with calls as (
            select category_code, count(*) as calls from marts.fct_calls
            where call_date >= %(start)s and call_date < %(end)s and is_inbound group by 1
        ), tickets as (
            select category_code, count(*) as tickets, count(*) filter (where not is_closed) as still_open
            from marts.fct_tickets where created_date >= %(start)s and created_date < %(end)s group by 1
        )
        select coalesce(c.label_fr, coalesce(calls.category_code, tickets.category_code, 'non classé')) as category,
               coalesce(c.is_complaint, false) as is_complaint,
               coalesce(calls.calls, 0)::int as calls, coalesce(tickets.tickets, 0)::int as tickets,
               coalesce(tickets.still_open, 0)::int as still_open
        from calls full join tickets on calls.category_code = tickets.category_code
        left join marts.dim_ticket_category c on c.category_code = coalesce(calls.category_code, tickets.category_code)
        order by calls desc, tickets desc
        """,
        {"start": start, "end": end},
    )


def alerts(wh, since: datetime, until: datetime) -> pd.DataFrame:
    """The alerts the rules raised in [since, until): one row per alert, from the delivery log
    (marts.alert_delivery_log), with its channels and whether it went out."""
    if not wh.query("select to_regclass('marts.alert_delivery_log') is not null")[0][0]:
        return pd.DataFrame(columns=["alert_key", "severity", "rule", "title", "created_at", "channels", "delivered"])
    return wh.query_df(
        """
        select alert_key, min(severity) as severity, min(rule) as rule, min(title) as title,
               min(created_at) as created_at,
               string_agg(distinct channel, ', ' order by channel) as channels,
               bool_or(status = 'sent') as delivered,
               bool_or(status = 'failed') as failed
        from marts.alert_delivery_log
        where kind in ('alert', 'crm_task') and created_at >= %s and created_at < %s
        group by alert_key
        order by case min(severity) when 'critical' then 0 when 'important' then 1 else 2 end, min(created_at)
        """,
        (since, until),
    )


def planning(wh, start: date, end: date) -> tuple[pd.DataFrame, bool]:
    """The technicians' booked visits over [start, end) per technician and day (visits, booked
    hours, first and last slot), with the planned route (km, first arrival) where ml.technician_routes
    holds those days. Returns (frame, routes_present)."""
    df = wh.query_df(
        """
        select t.full_name as technician, i.scheduled_date as day, count(*)::int as visits,
               round(sum(i.planned_minutes) / 60.0, 1) as booked_hours,
               min(i.scheduled_start_at) as first_start, max(i.scheduled_end_at) as last_end,
               string_agg(distinct i.city, ', ') as cities
        from marts.fct_interventions i join marts.dim_technician t using (technician_id)
        where i.scheduled_date >= %s and i.scheduled_date < %s and not i.is_cancelled
        group by 1, 2 order by 1, 2
        """,
        (start, end),
    )
    routes = False
    if has_rows(wh, "ml.technician_routes"):
        r = wh.query_df(
            """
            with stops as (
                select *, max(position) over (partition by route_date, technician_id) as last_position
                from ml.technician_routes where route_date >= %s and route_date < %s
            )
            select t.full_name as technician, stops.route_date as day,
                   round((sum(km_from_previous) + sum(km_to_home) filter (where position = last_position))::numeric,
                         1) as route_km,
                   min(planned_arrival) as first_arrival
            from stops join marts.dim_technician t using (technician_id)
            group by 1, 2
            """,
            (start, end),
        )
        if len(r):
            routes = True
            df = df.merge(r, on=["technician", "day"], how="left")
    return df, routes


def issues(wh, start: date, end: date) -> dict:
    """The week's problems: complaints, tickets still open past 24 h, dissatisfied customers."""
    row = wh.query(
        """
        select
            (select count(*) from marts.fct_tickets t join marts.dim_ticket_category c using (category_code)
             where c.is_complaint and t.created_date >= %(start)s and t.created_date < %(end)s),
            (select count(*) from marts.fct_tickets where created_date >= %(start)s and created_date < %(end)s
             and is_resolution_sla_breached),
            (select count(*) from marts.fct_survey_responses where response_date >= %(start)s
             and response_date < %(end)s and csat_score < 3),
            (select count(*) from marts.fct_survey_responses where response_date >= %(start)s
             and response_date < %(end)s and nps_category = 'detractor')
        """,
        {"start": start, "end": end},
    )[0]
    return {"complaints": row[0], "tickets_over_24h": row[1], "csat_below_3": row[2], "nps_detractors": row[3]}


def segments(wh, as_of: date) -> tuple[pd.DataFrame, date | None]:
    """RFM segments (ml.customer_segments) as of the latest scoring on or before `as_of`, with the
    actions and budget shares of the customer_segments seed (004). Empty when not scored yet."""
    if not has_rows(wh, "ml.customer_segments"):
        return pd.DataFrame(), None
    scored = wh.query("select max(as_of_date) from ml.customer_segments where as_of_date <= %s", (as_of,))[0][0]
    if scored is None:
        return pd.DataFrame(), None
    seed = wh.query("select to_regclass('reference.customer_segments') is not null")[0][0]
    joined = (
        "left join reference.customer_segments r on r.segment = s.segment" if seed
        else "left join (select null::text as segment, null::text as label_fr, null::numeric as budget_share, "
             "null::numeric as budget_per_customer_eur, null::text as actions, null::text as expected_roi, "
             "null::int as sort_order) r on r.segment = s.segment"
    )  # fmt: skip
    df = wh.query_df(
        f"""
        select s.segment, coalesce(r.label_fr, s.segment) as label, count(*)::int as customers,
               round(avg(s.recency_days))::int as recency_days, round(avg(s.frequency), 1) as frequency,
               round(avg(s.monetary_eur))::numeric as monetary_eur, sum(s.monetary_eur) as revenue,
               r.budget_share, r.budget_per_customer_eur, r.actions, r.expected_roi, min(r.sort_order) as sort_order
        from ml.customer_segments s {joined}
        where s.as_of_date = %s
        group by s.segment, r.label_fr, r.budget_share, r.budget_per_customer_eur, r.actions, r.expected_roi
        order by min(r.sort_order) nulls last, count(*) desc
        """,
        (scored,),
    )
    total_customers, total_revenue = df["customers"].sum(), float(df["revenue"].astype(float).sum())
    df["customer_share"] = df["customers"] / total_customers
    df["revenue_share"] = df["revenue"].astype(float) / total_revenue if total_revenue else 0.0
    return df, scored


def customers(wh) -> pd.DataFrame:
    """Every customer's current version: since when, and when lost (cohorts, retention curve)."""
    return wh.query_df(
        "select customer_id, customer_since, lost_date from marts.dim_customer where is_current and customer_since "
        "is not null"
    )


def published_at(wh) -> datetime | None:
    """When the marts were last published: the quality gate's last pass (the `marts` Asset is
    updated only then)."""
    if not wh.query("select to_regclass('meta.dq_runs') is not null")[0][0]:
        return None
    return wh.query("select max(finished_at) from meta.dq_runs where passed")[0][0]
