"""Anomaly detection (003 alerts, 001 "Analyse des coûts & marges", 002): abnormal days and ERP
documents, each with a kind, a score and an explanation in plain French.

Daily KPIs (`marts.mart_kpi_daily`: calls, abandonment rate, tickets created, first-reply time):
- baseline: the same weekday over the previous `BASELINE_WEEKS` weeks, public holidays left out
  (a Monday is compared with Mondays); robust z = (value - median) / (1.4826 x MAD), the MAD
  floored by the Poisson noise of a count;
- Isolation Forest on the day's robust z-scores of every KPI (a day unusual on several at once);
- the specification's rule (003 §3.2): calls more than 30% above the average of the same weekday.
A KPI is anomalous on a day when its robust z reaches `Z_STRONG`, or `Z_WEAK` with the Isolation
Forest also isolating the day, and it is at least 30% off its baseline; the spec rule alone
(30% without statistical evidence) is kept as its own, informational kind `call_peak_30pct`.

ERP documents (`marts.fct_invoices` and their lines):
- `erp_duplicate`: the later document of a group the warehouse flags as a possible double entry
  (`duplicate_of_invoice_number`: same customer, kind, amount and day);
- `erp_credit_without_invoice`: a credit note crediting no known invoice;
- `erp_night_weekend`: created at night (22:00-06:00 Paris), or on a weekend for a kind of
  document that is (almost) never created at weekends — usual for the kind, judged on history;
- `erp_abnormal_amount`: a line far from its item's usual amount (robust z of the log amount
  per item), the invoice total far from the customer's usual invoice as a second opinion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_tasks.validation import ModelInputError, require_frame

MODEL_NAME = "anomaly_detection"
KPI_SOURCE = "marts.mart_kpi_daily"
ERP_SOURCE = "marts.fct_invoices"
BASELINE_WEEKS = 8
MIN_BASELINE_DAYS = 4
MIN_HISTORY_DAYS = 8 * 7
Z_STRONG = 6.0
Z_WEAK = 4.0
PEAK_RATIO = 1.30  # 003 §3.2: "Pic d'appels inhabituel (+30% vs moyenne)"
NIGHT_START_HOUR, NIGHT_END_HOUR = 22, 6
USUAL_SHARE = 0.001  # a kind of document created at weekends less often than this never is
AMOUNT_Z = 5.0
AMOUNT_MIN_RATIO = 5.0  # and at least this many times the item's usual amount
WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

# metric -> (kind, French label, unit, is a count)
KPI_METRICS = {
    "calls_per_day": ("call_volume", "appels", "", True),
    "abandonment_rate": ("abandonment_rate", "taux d'abandon", "%", False),
    "tickets_created": ("ticket_volume", "tickets créés", "", True),
    "avg_first_reply_business_hours": ("first_reply_time", "délai moyen de première réponse", " h", False),
}
ANOMALY_COLUMNS = [
    "kind",
    "entity",
    "reference",
    "anomaly_date",
    "metric",
    "value",
    "expected",
    "score",
    "detectors",
    "explanation",
]


def _fr(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")


def _show(metric: str, value: float) -> str:
    _, _, unit, count = KPI_METRICS[metric]
    if unit == "%":
        return f"{_fr(100 * value, 1)} %"
    return f"{_fr(value, 0 if count else 1)}{unit}"


# --------------------------------------------------------------------------- daily KPIs
def weekday_baselines(daily: pd.DataFrame, metric: str, weeks: int = BASELINE_WEEKS) -> pd.DataFrame:
    """Per day: median and robust spread of `metric` over the same weekday of the previous `weeks`
    weeks (holidays excluded from the baseline), its ratio to the median and robust z."""
    frame = daily[["kpi_date", "is_public_holiday", metric]].copy()
    frame["weekday"] = pd.to_datetime(frame["kpi_date"]).dt.dayofweek
    frame = frame.sort_values("kpi_date")
    values = frame[metric].astype(float).where(~frame["is_public_holiday"].astype(bool))
    rolling = values.groupby(frame["weekday"]).transform(
        lambda s: s.shift(1).rolling(weeks, min_periods=MIN_BASELINE_DAYS).median()
    )
    mad = values.groupby(frame["weekday"]).transform(
        lambda s: (s.shift(1) - s.shift(1).rolling(weeks, min_periods=MIN_BASELINE_DAYS).median())
        .abs()
        .rolling(weeks, min_periods=MIN_BASELINE_DAYS)
        .median()
    )
    spread = 1.4826 * mad
    if KPI_METRICS[metric][3]:
        spread = np.maximum(spread, np.sqrt(rolling.clip(lower=1)))  # a count is at least Poisson-noisy
    else:
        spread = np.maximum(spread, 0.05 * rolling.abs() + 1e-3)
    value = frame[metric].astype(float)
    return pd.DataFrame(
        {
            "kpi_date": frame["kpi_date"].to_numpy(),
            "weekday": frame["weekday"].to_numpy(),
            "is_public_holiday": frame["is_public_holiday"].astype(bool).to_numpy(),
            "value": value.to_numpy(),
            "baseline": rolling.to_numpy(),
            "ratio": (value / rolling.where(rolling > 0)).to_numpy(),
            "z": ((value - rolling) / spread).to_numpy(),
        },
        index=frame.index,
    )


def _isolation_flags(z: pd.DataFrame, seed: int) -> pd.Series:
    """Days the Isolation Forest isolates, on the robust z of every KPI (days with all baselines)."""
    from sklearn.ensemble import IsolationForest

    complete = z.dropna()
    flags = pd.Series(False, index=z.index)
    if len(complete) < MIN_HISTORY_DAYS:
        return flags
    forest = IsolationForest(n_estimators=200, contamination="auto", random_state=seed).fit(complete.to_numpy())
    flags.loc[complete.index] = forest.predict(complete.to_numpy()) == -1
    return flags


def detect_kpi_anomalies(daily: pd.DataFrame, seed: int = 42) -> pd.DataFrame:
    """Anomalous (day, KPI) pairs over the whole history given, one row each (ANOMALY_COLUMNS)."""
    require_frame(
        daily,
        MODEL_NAME,
        KPI_SOURCE,
        columns=("kpi_date", "is_public_holiday", *KPI_METRICS),
        not_all_null=tuple(KPI_METRICS),
    )
    if len(daily) < MIN_HISTORY_DAYS:
        raise ModelInputError(
            MODEL_NAME, KPI_SOURCE, f"has {len(daily)} days of history, needs at least {MIN_HISTORY_DAYS}"
        )
    baselines = {metric: weekday_baselines(daily, metric) for metric in KPI_METRICS}
    z = pd.DataFrame({metric: b["z"] for metric, b in baselines.items()})
    isolated = _isolation_flags(z, seed)
    rows = []
    for metric, b in baselines.items():
        kind, label, _, _ = KPI_METRICS[metric]
        usable = b["baseline"].notna() & ~b["is_public_holiday"]
        strong = usable & (b["z"] >= Z_STRONG) & (b["ratio"] >= PEAK_RATIO)
        weak = usable & (b["z"] >= Z_WEAK) & isolated & (b["ratio"] >= PEAK_RATIO)
        for index in b.index[strong | weak]:
            r = b.loc[index]
            day = pd.Timestamp(r["kpi_date"])
            detectors = ["robust_z"] + (["isolation_forest"] if isolated[index] else [])
            rows.append(
                {
                    "kind": kind,
                    "entity": "day",
                    "reference": f"{day:%Y-%m-%d}:{metric}",
                    "anomaly_date": day.date(),
                    "metric": metric,
                    "value": float(r["value"]),
                    "expected": float(r["baseline"]),
                    "score": round(float(r["z"]), 2),
                    "detectors": detectors,
                    "explanation": (
                        f"{WEEKDAYS_FR[day.dayofweek]} {day:%d/%m/%Y} : {label} {_show(metric, r['value'])}, "
                        f"soit +{_fr(100 * (r['ratio'] - 1))} % par rapport à un {WEEKDAYS_FR[day.dayofweek]} "
                        f"habituel ({_show(metric, r['baseline'])}) ; écart robuste z = {_fr(r['z'], 1)}"
                        + (" ; journée isolée aussi par l'Isolation Forest" if isolated[index] else "")
                    ),
                }
            )
    calls = baselines["calls_per_day"]
    flagged = {row["anomaly_date"] for row in rows if row["kind"] == "call_volume"}
    peaks = calls[calls["baseline"].notna() & ~calls["is_public_holiday"] & (calls["ratio"] > PEAK_RATIO)]
    for _, r in peaks.iterrows():
        day = pd.Timestamp(r["kpi_date"])
        if day.date() in flagged:
            continue
        rows.append(
            {
                "kind": "call_peak_30pct",
                "entity": "day",
                "reference": f"{day:%Y-%m-%d}:calls_per_day",
                "anomaly_date": day.date(),
                "metric": "calls_per_day",
                "value": float(r["value"]),
                "expected": float(r["baseline"]),
                "score": round(float(r["z"]), 2),
                "detectors": ["spec_rule_30pct"],
                "explanation": (
                    f"{WEEKDAYS_FR[day.dayofweek]} {day:%d/%m/%Y} : pic d'appels inhabituel, "
                    f"{_fr(r['value'])} appels (+{_fr(100 * (r['ratio'] - 1))} % par rapport à la moyenne des "
                    f"{WEEKDAYS_FR[day.dayofweek]}s, {_fr(r['baseline'])})"
                ),
            }
        )
    return pd.DataFrame(rows, columns=ANOMALY_COLUMNS)


# --------------------------------------------------------------------------- ERP documents
def _paris(instants: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(instants, utc=True)
    return stamps.dt.tz_convert("Europe/Paris")


def _doc_row(kind: str, doc: pd.Series, score: float, detectors: list[str], explanation: str, **extra) -> dict:
    return {
        "kind": kind,
        "entity": "document",
        "reference": doc["invoice_number"],
        "anomaly_date": pd.Timestamp(doc["invoice_date"]).date(),
        "metric": extra.get("metric", "total_ht"),
        "value": float(extra.get("value", doc["total_ht"])),
        "expected": extra.get("expected"),
        "score": round(float(score), 2),
        "detectors": detectors,
        "explanation": explanation,
    }


def _kind_fr(kind: str) -> str:
    return {"invoice": "facture", "credit_note": "avoir"}.get(kind, kind)


def detect_erp_anomalies(invoices: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Anomalous invoices and credit notes (ANOMALY_COLUMNS). `invoices`: fct_invoices rows;
    `lines`: their lines (document_number, item_ref, item_name, quantity, amount_ht)."""
    require_frame(
        invoices,
        MODEL_NAME,
        ERP_SOURCE,
        columns=(
            "invoice_number", "document_kind", "erp_customer_code", "invoice_date", "created_at", "total_ht",
            "credited_invoice_number", "duplicate_of_invoice_number",
        ),  # fmt: skip
        not_all_null=("created_at", "total_ht"),
        min_rows=50,
    )
    require_frame(lines, MODEL_NAME, "marts.fct_invoices lines (staging.stg_erp__document_lines)",
                  columns=("document_number", "item_ref", "quantity", "amount_ht"))  # fmt: skip
    docs = invoices.set_index("invoice_number", drop=False)
    rows: list[dict] = []

    for _, doc in docs[docs["duplicate_of_invoice_number"].notna()].iterrows():
        rows.append(
            _doc_row(
                "erp_duplicate", doc, 10.0, ["rule_same_customer_amount_day"],
                f"{_kind_fr(doc['document_kind'])} {doc['invoice_number']} du {pd.Timestamp(doc['invoice_date']):%d/%m/%Y} : "
                f"doublon probable de {doc['duplicate_of_invoice_number']} (même client {doc['erp_customer_code']}, "
                f"même montant {_fr(doc['total_ht'], 2)} € HT, même jour)",
            )
        )  # fmt: skip

    invoice_numbers = set(docs.loc[docs["document_kind"] == "invoice", "invoice_number"])
    credits = docs[docs["document_kind"] == "credit_note"]
    orphan = credits[~credits["credited_invoice_number"].isin(invoice_numbers)]
    for _, doc in orphan.iterrows():
        what = (
            f"fait référence à {doc['credited_invoice_number']}, facture inconnue"
            if isinstance(doc["credited_invoice_number"], str)
            else "ne fait référence à aucune facture"
        )
        rows.append(
            _doc_row(
                "erp_credit_without_invoice", doc, 10.0, ["rule_credit_reference"],
                f"avoir {doc['invoice_number']} du {pd.Timestamp(doc['invoice_date']):%d/%m/%Y} "
                f"({_fr(doc['total_ht'], 2)} € HT, client {doc['erp_customer_code']}) {what}",
            )
        )  # fmt: skip

    rows += _night_weekend(docs)
    rows += _abnormal_amounts(docs, lines)
    return pd.DataFrame(rows, columns=ANOMALY_COLUMNS)


def _night_weekend(docs: pd.DataFrame) -> list[dict]:
    local = _paris(docs["created_at"])
    hour = local.dt.hour
    night = (hour >= NIGHT_START_HOUR) | (hour < NIGHT_END_HOUR)
    weekend = local.dt.dayofweek >= 5
    kind = docs["document_kind"]
    night_share = night.groupby(kind).transform("mean")
    weekend_share = (weekend & ~night).groupby(kind).transform("mean")
    odd_night = night & (night_share < 0.01)
    odd_weekend = weekend & ~night & (weekend_share < USUAL_SHARE)
    rows = []
    for number in docs.index[odd_night | odd_weekend]:
        doc, when = docs.loc[number], local[number]
        share = night_share[number] if odd_night[number] else weekend_share[number]
        period = "la nuit" if odd_night[number] else "un week-end"
        rows.append(
            _doc_row(
                "erp_night_weekend", doc, -np.log10(max(share, 1e-6)), ["rule_office_hours"],
                f"{_kind_fr(doc['document_kind'])} {doc['invoice_number']} saisie {period}, le "
                f"{WEEKDAYS_FR[when.dayofweek]} {when:%d/%m/%Y à %H:%M} ({_fr(100 * share, 2)} % des "
                f"{_kind_fr(doc['document_kind'])}s de l'historique à ces heures) ; "
                f"{_fr(doc['total_ht'], 2)} € HT, client {doc['erp_customer_code']}",
                metric="created_at_hour", value=float(when.hour),
            )
        )  # fmt: skip
    return rows


def _abnormal_amounts(docs: pd.DataFrame, lines: pd.DataFrame) -> list[dict]:
    billed = lines[lines["document_number"].isin(docs.index[docs["document_kind"] == "invoice"])].copy()
    billed = billed[billed["amount_ht"].astype(float) > 0]
    if billed.empty:
        return []
    amount = np.log(billed["amount_ht"].astype(float))
    by_item = amount.groupby(billed["item_ref"])
    median = by_item.transform("median")
    mad = (amount - median).abs().groupby(billed["item_ref"]).transform("median")
    billed["z"] = (amount - median) / np.maximum(1.4826 * mad, 0.25)  # a floor: items priced the same every time
    billed["ratio"] = np.exp(amount - median)
    billed["usual"] = np.exp(median)
    odd = billed[(billed["z"] >= AMOUNT_Z) & (billed["ratio"] >= AMOUNT_MIN_RATIO)]
    rows = []
    customer_usual = docs[docs["document_kind"] == "invoice"].groupby("erp_customer_code")["total_ht"].median()
    for number, group in odd.groupby("document_number"):
        doc = docs.loc[number]
        worst = group.sort_values("z", ascending=False).iloc[0]
        usual_total = float(customer_usual.get(doc["erp_customer_code"], np.nan))
        vs_customer = (
            f" ; la facture ({_fr(doc['total_ht'], 2)} € HT) vaut {_fr(doc['total_ht'] / usual_total, 0)} fois "
            f"la facture habituelle du client ({_fr(usual_total, 2)} €)"
            if usual_total > 0
            else ""
        )
        name = worst.get("item_name") or worst["item_ref"]
        rows.append(
            _doc_row(
                "erp_abnormal_amount", doc, float(worst["z"]), ["robust_z_item_amount"],
                f"facture {number} du {pd.Timestamp(doc['invoice_date']):%d/%m/%Y} : ligne « {name} » à "
                f"{_fr(worst['amount_ht'], 2)} € HT (quantité {_fr(worst['quantity'], 1)}), "
                f"{_fr(worst['ratio'], 0)} fois le montant habituel de l'article ({_fr(worst['usual'], 2)} €)"
                + vs_customer,
                metric="line_amount_ht", value=float(worst["amount_ht"]), expected=float(worst["usual"]),
            )
        )  # fmt: skip
    return rows
