"""What the ML entry points share: the `ml` tables' DDL, the as-of date of a run, idempotent
writes (a run replaces its own as-of date), drift rows and the training-run record."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import pandas as pd

from cs_analytics.warehouse import Warehouse, copy_rows

log = logging.getLogger(__name__)

# To be merged into cs_analytics/schema.py with the other ml.* DDL.
ML_MODELS_DDL = """
create schema if not exists ml;
create table if not exists ml.model_runs (
    model          text not null,
    as_of_date     date not null,
    metrics        jsonb not null,
    run_id         text,
    trained_at     timestamptz not null default now(),
    primary key (model, as_of_date)
);
-- Churn risk per customer and as-of day (spec 2.2): score 0-100, band, top three reasons in French.
create table if not exists ml.churn_scores (
    as_of_date       date not null,
    customer_id      text not null,
    score            integer not null check (score between 0 and 100),
    probability      double precision not null,
    band             text not null,
    reasons          text[] not null,
    reason_features  text[] not null,
    model_version    integer not null,
    scored_at        timestamptz not null default now(),
    primary key (as_of_date, customer_id)
);
-- The retention campaign list (spec 2.2: score above 50; above 70 Claire is alerted as well).
create table if not exists ml.retention_campaign (
    as_of_date     date not null,
    customer_id    text not null,
    score          integer not null,
    band           text not null,
    action         text not null,
    reasons        text[] not null,
    model_version  integer not null,
    primary key (as_of_date, customer_id)
);
-- RFM segment per customer and as-of day (004), with the values behind it.
create table if not exists ml.customer_segments (
    as_of_date     date not null,
    customer_id    text not null,
    segment        text not null,
    cluster        integer not null,
    recency_days   integer not null,
    frequency      integer not null,
    monetary_eur   numeric(14, 2) not null,
    model_version  integer not null,
    primary key (as_of_date, customer_id)
);
-- Abnormal days and ERP documents; one row per (kind, reference), kept up to date by every run.
create table if not exists ml.anomalies (
    kind               text not null,
    reference          text not null,
    entity             text not null,
    anomaly_date       date not null,
    metric             text not null,
    value              double precision,
    expected           double precision,
    score              double precision not null,
    detectors          text[] not null,
    explanation        text not null,
    first_detected_on  date not null,
    last_detected_on   date not null,
    primary key (kind, reference)
);
-- Population stability index of each model feature against the training window, per scoring run.
create table if not exists ml.feature_drift (
    model          text not null,
    model_version  integer not null,
    as_of_date     date not null,
    feature        text not null,
    psi            double precision not null,
    is_warning     boolean not null,
    rows_scored    integer not null,
    computed_at    timestamptz not null default now(),
    primary key (model, as_of_date, feature)
);
"""


def ensure_ml_schema(wh: Warehouse) -> None:
    with wh.connect(autocommit=True) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('cs_analytics.ml_ddl'))")
        conn.execute(ML_MODELS_DDL)


def run_as_of(context: dict[str, Any]) -> date:
    """The last full day the run covers (the data interval's end, Paris calendar), never the wall clock."""
    from cs_analytics.tasks.ml import as_of_date

    return as_of_date(context)


def replace_as_of(
    conn, table: str, as_of: date, columns: Sequence[str], rows: Iterable[Sequence[Any]], key: str = "as_of_date"
) -> int:
    """Delete the as-of date's rows and COPY the new ones (inside the caller's transaction)."""
    conn.execute(f"delete from {table} where {key} = %s", (as_of,))
    with conn.cursor() as cur:
        return copy_rows(cur, table, columns, rows)


def record_training(conn, model: str, as_of: date, metrics: dict[str, Any], run_id: str | None) -> None:
    conn.execute(
        "insert into ml.model_runs (model, as_of_date, metrics, run_id) values (%s, %s, %s, %s) "
        "on conflict (model, as_of_date) do update set metrics = excluded.metrics, run_id = excluded.run_id, "
        "trained_at = now()",
        (model, as_of, json.dumps(metrics, default=str), run_id),
    )


def write_drift(conn, model: str, version: int, as_of: date, drift: pd.DataFrame) -> list[str]:
    """Store each feature's PSI; log a warning (and return the features) past the threshold."""
    from ml_tasks.drift import PSI_WARNING

    conn.execute("delete from ml.feature_drift where model = %s and as_of_date = %s", (model, as_of))
    with conn.cursor() as cur:
        copy_rows(
            cur,
            "ml.feature_drift",
            ("model", "model_version", "as_of_date", "feature", "psi", "is_warning", "rows_scored"),
            (
                (model, version, as_of, r.feature, float(r.psi), bool(r.is_warning), int(r.rows))
                for r in drift.itertuples()
            ),
        )
    drifting = drift.loc[drift["is_warning"], "feature"].tolist()
    for r in drift[drift["is_warning"]].itertuples():
        log.warning(
            "DRIFT WARNING %s v%d as of %s: feature %s PSI %.3f > %.1f against the training window",
            model, version, as_of, r.feature, r.psi, PSI_WARNING,
        )  # fmt: skip
    return drifting


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Metrics as JSON values (NaN -> None)."""
    out = {}
    for k, v in values.items():
        if isinstance(v, float) and v != v:
            out[k] = None
        elif hasattr(v, "item"):
            out[k] = v.item()
        else:
            out[k] = v
    return out
