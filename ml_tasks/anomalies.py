"""Anomaly detection (003 alerts, 001 "Analyse des coûts & marges", 002): abnormal days and ERP
documents, each with a kind, a score and an explanation in plain French.

Daily KPIs (`marts.mart_kpi_daily`: calls, abandonment rate, tickets created, first-reply time):
- expected value: the same weekday over the previous `BASELINE_WEEKS` weeks, public holidays left
  out (a Monday is compared with Mondays), times the local level of the surrounding days (a cold
  wave lifts a whole week; a spike is one day); robust z of the gap (`weekday_baselines`). Calls,
  when the day's temperature is given, get a calendar and weather model instead
  (`calendar_baselines`): weekday, season, trend, holidays and cold or heat beyond the seasonal
  normal, fitted on the whole history with the outlying days left out. A cold-wave Monday is then
  expected busy, and the expectation does not carry the noise of eight single Mondays;
- Isolation Forest on the day's robust z-scores of every KPI (a day unusual on several at once);
- the specification's rule (003 §3.2): calls more than 30% above the average of the same weekday.
A KPI is anomalous on a day when its robust z reaches `Z_STRONG`, or `Z_WEAK` with the Isolation
Forest also isolating the day, and it is at least 30% off its baseline; the spec rule alone
(30% without statistical evidence) is kept as its own, informational kind `call_peak_30pct`.

ERP documents (`marts.fct_invoices` and their lines):
- `erp_duplicate`: the later document of a group the warehouse flags as a possible double entry
  (`duplicate_of_invoice_number`: same customer, kind, amount and day) keyed within 10 minutes;
- `erp_credit_without_invoice`: a credit note crediting no invoice, or an unknown one numbered
  within the history;
- `erp_night_weekend`: created at night (22:00-06:00 Paris), or on a weekend for a kind of
  document that is (almost) never created at weekends — usual for the kind, judged on history;
- `erp_abnormal_amount`: a line far from its item's usual amount or quantity (robust z of the log
  per item, and at least 5 times the usual); the customer's usual invoice is quoted beside it.
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
Z_STRONG = 4.5
Z_WEAK = 3.5
PEAK_RATIO = 1.30  # 003 §3.2: "Pic d'appels inhabituel (+30% vs moyenne)"
SEASON_HARMONICS = 3  # yearly season of the calendar model: winter peak, July peak, August lull
WEATHER_BEYOND_C = 4.0  # three-day mean temperature this far from its normal starts to bring calls
OUTLIER_Z = 3.0  # days this far from the calendar model do not shape it (refit without them)
NIGHT_START_HOUR, NIGHT_END_HOUR = 22, 6
USUAL_SHARE = 0.001  # a kind of document created at weekends less often than this never is
AMOUNT_Z = 5.0
AMOUNT_MIN_RATIO = 5.0  # and at least this many times the item's usual amount or quantity
DUPLICATE_MINUTES = 10  # a double entry is saved again within minutes; two real visits are billed apart
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
    """Per day: what `metric` should have been, its ratio to that and a robust z.

    expected = same-weekday median of the previous `weeks` weeks (public holidays left out)
               x the local level: the three days before and after (those that exist) against their
               own weekday medians (sum over sum), so a run of days that are all high together (a
               cold or heat wave, a seasonal ramp) raises the expectation, and an isolated day does not.
    z = (value - expected) / spread, the spread robust over the whole history (for counts, the
        Poisson noise scaled by the history's over-dispersion).
    The latest day has no following days: its level reads the days before only, and the next
    run, which sees the day after, may revise it.
    """
    frame = daily[["kpi_date", "is_public_holiday", metric]].copy()
    frame["weekday"] = pd.to_datetime(frame["kpi_date"]).dt.dayofweek
    frame = frame.sort_values("kpi_date")
    holiday = frame["is_public_holiday"].astype(bool)
    value = frame[metric].astype(float)
    usual = value.where(~holiday)
    weekday_median = usual.groupby(frame["weekday"]).transform(
        lambda s: s.shift(1).rolling(weeks, min_periods=MIN_BASELINE_DAYS).median()
    )
    # Ratio of sums, so a quiet Sunday's noisy ratio weighs as little as its volume.
    known = usual.notna() & weekday_median.notna()
    shifts = (-3, -2, -1, 1, 2, 3)
    observed = sum(usual.where(known, 0).shift(k).fillna(0) for k in shifts)
    typical = sum(weekday_median.where(known, 0).shift(k).fillna(0) for k in shifts)
    level = (observed / typical.where(typical > 0)).fillna(1.0)
    expected = weekday_median * level
    residual = value - expected
    if KPI_METRICS[metric][3]:
        pearson = (residual / np.sqrt(expected.clip(lower=1))).where(~holiday)
        dispersion = max(1.4826 * float(np.nanmedian(np.abs(pearson))), 1.0)
        spread = dispersion * np.sqrt(expected.clip(lower=1))
    else:
        spread = pd.Series(max(1.4826 * float(np.nanmedian(np.abs(residual.where(~holiday)))), 1e-3), index=frame.index)
    return pd.DataFrame(
        {
            "kpi_date": frame["kpi_date"].to_numpy(),
            "weekday": frame["weekday"].to_numpy(),
            "is_public_holiday": holiday.to_numpy(),
            "value": value.to_numpy(),
            "baseline": expected.to_numpy(),
            "weekday_median": weekday_median.to_numpy(),
            "ratio": (value / expected.where(expected > 0)).to_numpy(),
            "z": (residual / spread).to_numpy(),
        },
        index=frame.index,
    )


def calendar_baselines(daily: pd.DataFrame, metric: str = "calls_per_day") -> pd.DataFrame:
    """Per day, as `weekday_baselines`: the expected `metric` (a count) from a Poisson model of
    the whole history on weekday, yearly season (`SEASON_HARMONICS`), trend, public holidays,
    bridge days (`is_bridge_day`, if given) and the degrees of cold and heat beyond
    `WEATHER_BEYOND_C` of the seasonal normal (three-day mean of `temperature_mean_c`, normal from
    the forecast's climatology). Days more than `OUTLIER_Z` from the fit are left out and the model
    refitted, so spikes do not raise it. z = gap / sqrt(mu + (cv mu)^2), cv the over-dispersion
    of the days kept."""
    import statsmodels.api as sm

    from ml_tasks.forecast import fit_climatology

    frame = daily.sort_values("kpi_date")
    days = pd.to_datetime(frame["kpi_date"]).reset_index(drop=True)
    holiday = frame["is_public_holiday"].astype(bool).to_numpy()
    value = frame[metric].astype(float).to_numpy()
    angle = 2 * np.pi * days.dt.dayofyear.to_numpy() / 365.25
    columns = {f"weekday_{d}": (days.dt.dayofweek == d).to_numpy(float) for d in range(1, 7)}
    for k in range(1, SEASON_HARMONICS + 1):
        columns |= {f"cos_{k}": np.cos(k * angle), f"sin_{k}": np.sin(k * angle)}
    columns |= {"trend": (days - days.iloc[0]).dt.days.to_numpy() / 365.25, "holiday": holiday.astype(float)}
    if "is_bridge_day" in frame:
        columns["bridge"] = frame["is_bridge_day"].astype("boolean").fillna(False).astype(float).to_numpy()
    temperature = frame["temperature_mean_c"].astype(float).reset_index(drop=True)
    anomaly = (temperature - fit_climatology(days, temperature)(days)).fillna(0.0)
    waves = anomaly.rolling(3, center=True, min_periods=1).mean().to_numpy()
    columns |= {"cold": np.maximum(0, -waves - WEATHER_BEYOND_C), "heat": np.maximum(0, waves - WEATHER_BEYOND_C)}
    columns = {name: c for name, c in columns.items() if np.any(c != 0)}  # e.g. no holiday in the history
    design = sm.add_constant(pd.DataFrame(columns), has_constant="add")
    kept = np.isfinite(value)
    for _ in range(4):
        fit = sm.GLM(value[kept], design[kept], family=sm.families.Poisson()).fit()
        expected = fit.predict(design).to_numpy()
        pearson = (value - expected) / np.sqrt(expected)
        spread = 1.4826 * np.nanmedian(np.abs(pearson[kept]))
        kept = np.isfinite(value) & (np.abs(pearson) <= OUTLIER_Z * spread)
    excess = ((value - expected) ** 2 - expected) / expected**2
    cv2 = max(float(np.nanmean(excess[kept])), 0.0)
    weekday_median = weekday_baselines(daily, metric)["weekday_median"]
    return pd.DataFrame(
        {
            "kpi_date": frame["kpi_date"].to_numpy(),
            "weekday": days.dt.dayofweek.to_numpy(),
            "is_public_holiday": holiday,
            "value": value,
            "baseline": expected,
            "weekday_median": weekday_median.reindex(frame.index).to_numpy(),
            "ratio": value / np.where(expected > 0, expected, np.nan),
            "z": (value - expected) / np.sqrt(expected + cv2 * expected**2),
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
    if "temperature_mean_c" in daily and daily["temperature_mean_c"].notna().any():
        baselines["calls_per_day"] = calendar_baselines(daily, "calls_per_day")
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
    spec_ratio = calls["value"] / calls["weekday_median"].where(calls["weekday_median"] > 0)
    peaks = calls[calls["weekday_median"].notna() & ~calls["is_public_holiday"] & (spec_ratio > PEAK_RATIO)]
    peaks = peaks.assign(ratio=spec_ratio[peaks.index], baseline=peaks["weekday_median"])
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
                "score": round(float(r["ratio"]), 3),  # the rule's own measure: times the usual volume
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
            "invoice_number",
            "document_kind",
            "erp_customer_code",
            "invoice_date",
            "created_at",
            "total_ht",
            "credited_invoice_number",
            "duplicate_of_invoice_number",
        ),  # fmt: skip
        not_all_null=("created_at", "total_ht"),
        min_rows=50,
    )
    require_frame(lines, MODEL_NAME, "marts.fct_invoices lines (staging.stg_erp__document_lines)",
                  columns=("document_number", "item_ref", "quantity", "amount_ht"))  # fmt: skip
    docs = invoices.set_index("invoice_number", drop=False)
    rows: list[dict] = []

    created = pd.to_datetime(docs["created_at"], utc=True)
    for _, doc in docs[docs["duplicate_of_invoice_number"].notna()].iterrows():
        original = doc["duplicate_of_invoice_number"]
        if original not in docs.index:
            continue
        minutes = (created[doc["invoice_number"]] - created[original]).total_seconds() / 60
        if minutes > DUPLICATE_MINUTES:
            continue  # two visits billed the same day at the same price, hours apart
        rows.append(
            _doc_row(
                "erp_duplicate", doc, 10.0 - minutes / DUPLICATE_MINUTES, ["rule_same_customer_amount_day"],
                f"{_kind_fr(doc['document_kind'])} {doc['invoice_number']} du {pd.Timestamp(doc['invoice_date']):%d/%m/%Y} : "
                f"doublon probable de {original} (même client {doc['erp_customer_code']}, même montant "
                f"{_fr(doc['total_ht'], 2)} € HT, même jour, saisie {_fr(minutes)} min après)",
                metric="minutes_after_original", value=minutes,
            )
        )  # fmt: skip

    invoice_numbers = set(docs.loc[docs["document_kind"] == "invoice", "invoice_number"])
    first_invoice = min(invoice_numbers) if invoice_numbers else ""
    credits = docs[docs["document_kind"] == "credit_note"]
    reference = credits["credited_invoice_number"]
    # An unknown invoice numbered before the history's first one is older than the history: not checkable.
    orphan = credits[reference.isna() | (~reference.isin(invoice_numbers) & (reference.fillna("") > first_invoice))]
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

    def robust(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
        logged = np.log(values.astype(float).clip(lower=1e-3))
        median = logged.groupby(billed["item_ref"]).transform("median")
        mad = (logged - median).abs().groupby(billed["item_ref"]).transform("median")
        # a floor: an item sold at the same price or quantity every time has no spread
        return (logged - median) / np.maximum(1.4826 * mad, 0.25), np.exp(logged - median), np.exp(median)

    amount_z, amount_ratio, usual = robust(billed["amount_ht"])
    quantity_z, quantity_ratio, _ = robust(billed["quantity"])
    billed["usual"] = usual
    billed["z"] = np.maximum(amount_z.where(amount_ratio >= AMOUNT_MIN_RATIO, 0),
                             quantity_z.where(quantity_ratio >= AMOUNT_MIN_RATIO, 0))  # fmt: skip
    billed["ratio"] = np.maximum(amount_ratio, quantity_ratio)
    odd = billed[billed["z"] >= AMOUNT_Z]
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
