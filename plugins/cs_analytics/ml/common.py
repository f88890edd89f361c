"""What the ML entry points share: the as-of date of a run, idempotent
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


def ensure_ml_schema(wh: Warehouse) -> None:
    """The ml.* tables are part of the platform's one DDL (cs_analytics.schema)."""
    from cs_analytics.schema import ensure_schema

    ensure_schema(wh)


def run_as_of(context: dict[str, Any]) -> date:
    """The last full day the run covers (the data interval's end, Paris calendar), never the wall clock."""
    from cs_analytics.run_context import as_of_date

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
