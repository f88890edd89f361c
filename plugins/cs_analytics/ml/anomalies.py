"""Anomaly detection: every scoring run re-reads the daily KPIs and the ERP invoices up to the
as-of day and brings `ml.anomalies` up to date (one row per kind and reference: a re-run updates,
never duplicates; an anomaly keeps the day it was first detected, for alerting on new ones).

Not in the registry: the detectors learn a baseline from the history at each run (same-weekday
medians, item amount medians, the Isolation Forest on the day's z-scores) rather than a mapping
to labels, and production has no labels to compare two versions on. Their thresholds live in
`ml_tasks/anomalies.py`; their recall and precision on planted anomalies are in the benchmark.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pandas as pd

from cs_analytics.ml.churn import pg_array
from cs_analytics.ml.common import ensure_ml_schema, run_as_of
from cs_analytics.warehouse import Warehouse, copy_rows

log = logging.getLogger(__name__)

COLUMNS = (
    "kind", "reference", "entity", "anomaly_date", "metric", "value", "expected", "score", "detectors", "explanation",
    "first_detected_on", "last_detected_on",
)  # fmt: skip


def load_inputs(wh: Warehouse, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    daily = wh.query_df(
        "select k.kpi_date, k.calls_per_day, k.abandonment_rate, k.tickets_created, k.avg_first_reply_business_hours, "
        "d.is_public_holiday, c.is_bridge_day, c.temperature_mean_c "
        "from marts.mart_kpi_daily k join marts.dim_date d on d.date_day = k.kpi_date "
        # the day's temperature: a cold-wave day is expected busy (ml_tasks.anomalies.calendar_baselines)
        "left join marts.ml_daily_calls c on c.ds = k.kpi_date "
        "where k.kpi_date <= %s order by k.kpi_date",
        (as_of,),
    )
    invoices = wh.query_df(
        "select invoice_number, document_kind, erp_customer_code, invoice_date, created_at, total_ht, "
        "credited_invoice_number, duplicate_of_invoice_number from marts.fct_invoices where invoice_date <= %s",
        (as_of,),
    )
    lines = wh.query_df(
        "select l.document_number, l.item_ref, i.item_name, l.quantity, l.amount_ht "
        "from staging.stg_erp__document_lines l join marts.fct_invoices f on f.invoice_number = l.document_number "
        "left join staging.stg_erp__items i on i.item_ref = l.item_ref where f.invoice_date <= %s",
        (as_of,),
    )
    return daily, invoices, lines


def detect(daily: pd.DataFrame, invoices: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    from ml_tasks import anomalies

    for frame in (invoices, lines):
        for column in ("total_ht", "amount_ht", "quantity"):
            if column in frame:
                frame[column] = frame[column].astype(float)
    daily["abandonment_rate"] = daily["abandonment_rate"].astype(float)
    daily["avg_first_reply_business_hours"] = daily["avg_first_reply_business_hours"].astype(float)
    if "temperature_mean_c" in daily:
        daily["temperature_mean_c"] = daily["temperature_mean_c"].astype(float)
    return pd.concat(
        [anomalies.detect_kpi_anomalies(daily), anomalies.detect_erp_anomalies(invoices, lines)], ignore_index=True
    )


def score(wh: Warehouse, as_of: date) -> dict[str, Any]:
    found = detect(*load_inputs(wh, as_of))
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        conn.execute("create temporary table new_anomalies (like ml.anomalies) on commit drop")
        with conn.cursor() as cur:
            copy_rows(
                cur,
                "new_anomalies",
                COLUMNS,
                (
                    (
                        r.kind,
                        r.reference,
                        r.entity,
                        r.anomaly_date,
                        r.metric,
                        None if pd.isna(r.value) else float(r.value),
                        None if pd.isna(r.expected) else float(r.expected),
                        float(r.score),
                        pg_array(list(r.detectors)),
                        r.explanation,
                        as_of,
                        as_of,
                    )
                    for r in found.itertuples()
                ),  # fmt: skip
            )
        # What this run no longer finds (data corrected at the source) goes; the rest is upserted.
        conn.execute(
            "delete from ml.anomalies a where a.anomaly_date <= %s and not exists "
            "(select 1 from new_anomalies n where n.kind = a.kind and n.reference = a.reference)",
            (as_of,),
        )
        conn.execute(
            "insert into ml.anomalies select * from new_anomalies on conflict (kind, reference) do update set "
            "entity = excluded.entity, anomaly_date = excluded.anomaly_date, metric = excluded.metric, "
            "value = excluded.value, expected = excluded.expected, score = excluded.score, "
            "detectors = excluded.detectors, explanation = excluded.explanation, "
            "first_detected_on = least(ml.anomalies.first_detected_on, excluded.first_detected_on), "
            "last_detected_on = excluded.last_detected_on"
        )
    counts = found["kind"].value_counts().to_dict()
    result = {"anomalies": len(found), "by_kind": counts}
    log.info("anomalies as of %s: %s", as_of, result)
    return result


def score_task(context: dict[str, Any]) -> dict[str, Any]:
    return score(Warehouse.for_flow("ml"), run_as_of(context))
