"""Anomaly detection against the planted anomalies (GROUND_TRUTH_DIR/anomalies.csv), per kind:
recall (share of planted anomalies found) and precision (share of detections that are planted).

The production detection (`cs_analytics.ml.anomalies.detect`) runs on the whole history as of the
end date. Planted call spike days are matched by date with `call_volume` detections; ERP kinds
by document number. Baselines: the specification's rule alone (+30% calls over the average
weekday) for spike days; for ERP, a plain z-score of invoice totals (|z| > 3, 001's "z-score"),
every document the warehouse flags as a possible duplicate (both copies), and every document
created at a weekend or at night. Target (issue 11): recall >= 0.9 at precision >= 0.7 per kind.
"""

from __future__ import annotations

import pandas as pd
from ml_quality import EvalContext, measure

KINDS = {  # planted kind -> detected kind
    "call_spike_day": "call_volume",
    "erp_duplicate": "erp_duplicate",
    "erp_credit_without_invoice": "erp_credit_without_invoice",
    "erp_night_weekend": "erp_night_weekend",
    "erp_abnormal_amount": "erp_abnormal_amount",
}


def _key(frame: pd.DataFrame, kind: str) -> set[str]:
    if kind == "call_spike_day":
        return set(pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))
    return set(frame["reference"])


def _recall_precision(planted: set[str], found: set[str]) -> tuple[float, float]:
    hits = len(planted & found)
    return hits / max(len(planted), 1), (hits / len(found) if found else float("nan"))


def _spikes_in_the_data(ctx: EvalContext, planted: pd.DataFrame, found: set[str]) -> str:
    """How many planted spikes the day's calls show (actual >= 1.5 x the day's expected volume
    without the spike, from the ground truth's daily_calls.csv), and the recall on those: a spike
    planted in the expected volume may not come out in the day's CDR file."""
    calls = ctx.truth("daily_calls.csv").set_index("date")
    factor = planted["description"].str.extract(r"x(\d+(?:\.\d+)?)")[0].astype(float).to_numpy()
    days = pd.to_datetime(planted["date"]).dt.strftime("%Y-%m-%d").to_numpy()
    usual = calls.loc[days, "expected_calls"].to_numpy() / factor
    visible = {d for d, actual, u in zip(days, calls.loc[days, "actual_calls"].to_numpy(), usual, strict=True)
               if actual >= 1.5 * u}  # fmt: skip
    hidden = ", ".join(f"{d} ({int(calls.loc[d, 'actual_calls'])} calls for {u:.0f} usual)"
                       for d, u in zip(days, usual, strict=True) if d not in visible)  # fmt: skip
    return (f"{len(visible)} of {len(days)} show in the calls, recall on those {len(visible & found) / max(len(visible), 1):.3f}"
            + (f"; not in the data: {hidden}" if hidden else ""))  # fmt: skip


def evaluate(ctx: EvalContext) -> list[dict]:
    from cs_analytics.ml.anomalies import detect, load_inputs

    inputs = load_inputs(ctx.warehouse, ctx.end_date)
    daily, invoices, lines = (frame.copy() for frame in inputs)
    found, seconds, mb = measure(lambda: detect(*inputs))
    truth = ctx.truth("anomalies.csv")
    invoices["total_ht"] = invoices["total_ht"].astype(float)
    totals = invoices.loc[invoices["document_kind"] == "invoice", "total_ht"]
    z = (totals - totals.mean()) / totals.std()
    local = pd.to_datetime(invoices["created_at"], utc=True).dt.tz_convert("Europe/Paris")
    odd_hours = (local.dt.dayofweek >= 5) | (local.dt.hour >= 22) | (local.dt.hour < 6)
    calls = daily.sort_values("kpi_date")
    weekday_mean = calls.groupby(pd.to_datetime(calls["kpi_date"]).dt.dayofweek)["calls_per_day"].transform("mean")
    naive = {
        "call_spike_day": ("spec_rule_30pct_vs_weekday_mean",
                           set(pd.to_datetime(calls.loc[calls["calls_per_day"] > 1.3 * weekday_mean, "kpi_date"])
                               .dt.strftime("%Y-%m-%d"))),
        "erp_duplicate": ("is_possible_duplicate_both",
                          set(invoices.loc[invoices["duplicate_of_invoice_number"].notna(), "duplicate_of_invoice_number"])
                          | set(invoices.loc[invoices["duplicate_of_invoice_number"].notna(), "invoice_number"])),
        "erp_night_weekend": ("weekend_or_night", set(invoices.loc[odd_hours, "invoice_number"])),
        "erp_abnormal_amount": ("zscore_total_gt3", set(invoices.loc[z[z.abs() > 3].index, "invoice_number"])),
    }  # fmt: skip
    rows = []
    for planted_kind, detected_kind in KINDS.items():
        planted = _key(truth[truth["kind"] == planted_kind], planted_kind)
        detections = found[found["kind"] == detected_kind]
        keys = (
            set(pd.to_datetime(detections["anomaly_date"]).dt.strftime("%Y-%m-%d"))
            if planted_kind == "call_spike_day"
            else set(detections["reference"])
        )
        recall, precision = _recall_precision(planted, keys)
        baselines = {}
        if planted_kind in naive:
            name, flagged = naive[planted_kind]
            r, p = _recall_precision(planted, flagged)
            baselines = {f"{name} recall": round(r, 3), f"{name} precision": round(p, 3)}
        met = recall >= 0.9 and precision >= 0.7
        common = {"model": f"anomalies/{planted_kind}", "train_seconds": None, "score_seconds": seconds,
                  "peak_mb": mb, "scale": ctx.scale, "oracle": 1.0}  # fmt: skip
        missed = sorted(planted - keys)[:5]
        note = f"{len(planted)} planted, {len(keys)} detected" + (
            f"; missed e.g. {', '.join(missed)}" if missed else ""
        )
        if planted_kind == "call_spike_day":
            note += "; " + _spikes_in_the_data(ctx, truth[truth["kind"] == planted_kind], keys)
        rows.append(dict(metric="recall", value=round(recall, 4), baselines=baselines, target=">= 0.9 at precision >= 0.7",
                         met=met, note=note, **common))  # fmt: skip
        rows.append(dict(metric="precision", value=round(precision, 4), baselines={}, target=">= 0.7", met=met,
                         **common))  # fmt: skip
    return rows
