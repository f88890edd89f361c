"""ml_tasks.anomalies on hand-built days and documents: each planted anomaly is found, explained."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks import anomalies
from ml_tasks.validation import ModelInputError


def days(n: int = 140, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-06", periods=n, freq="D")
    level = np.where(dates.dayofweek < 5, 50, np.where(dates.dayofweek == 5, 10, 2))
    return pd.DataFrame(
        {
            "kpi_date": dates.date,
            "is_public_holiday": False,
            "calls_per_day": rng.poisson(level),
            "abandonment_rate": np.clip(rng.normal(0.07, 0.01, n), 0, 1),
            "tickets_created": rng.poisson(level * 1.1),
            "avg_first_reply_business_hours": np.clip(rng.normal(3, 0.3, n), 0, None),
        }
    )


def test_a_call_spike_is_found_and_explained_against_the_same_weekday() -> None:
    daily = days()
    spike = daily.index[100]  # a weekday well after the baseline has formed
    daily.loc[spike, "calls_per_day"] = 120
    found = anomalies.detect_kpi_anomalies(daily)
    calls = found[found["kind"] == "call_volume"]
    assert list(calls["anomaly_date"]) == [daily.loc[spike, "kpi_date"]]
    row = calls.iloc[0]
    weekday = anomalies.WEEKDAYS_FR[pd.Timestamp(row["anomaly_date"]).dayofweek]
    assert row["score"] > anomalies.Z_STRONG and row["expected"] == pytest.approx(50, abs=6)
    assert "appels 120, soit +" in row["explanation"] and f"un {weekday} habituel" in row["explanation"]


def test_a_moderate_rise_is_only_the_specification_rule() -> None:
    daily = days()
    daily.loc[101, "calls_per_day"] = 68  # +35% over a ~50 weekday: the spec's info alert, not a spike
    found = anomalies.detect_kpi_anomalies(daily)
    assert daily.loc[101, "kpi_date"] not in set(found.loc[found["kind"] == "call_volume", "anomaly_date"])
    assert daily.loc[101, "kpi_date"] in set(found.loc[found["kind"] == "call_peak_30pct", "anomaly_date"])


def test_with_the_temperature_a_cold_wave_is_expected_busy_and_a_spike_still_stands_out() -> None:
    daily = days(n=280, seed=7)
    rng = np.random.default_rng(7)
    doy = pd.DatetimeIndex(daily["kpi_date"]).dayofyear.to_numpy()
    daily["temperature_mean_c"] = 12.8 - 10 * np.cos(2 * np.pi * (doy - 20) / 365.25) + rng.normal(0, 1.5, len(daily))
    wave = daily.index[150:157]  # a week 10 °C below normal, 40% more calls every day
    daily.loc[wave, "temperature_mean_c"] -= 10
    daily.loc[wave, "calls_per_day"] = (daily.loc[wave, "calls_per_day"] * 1.4).round().astype(int)
    spike = daily.index[201]
    daily.loc[spike, "calls_per_day"] = 115
    found = anomalies.detect_kpi_anomalies(daily)
    assert list(found.loc[found["kind"] == "call_volume", "anomaly_date"]) == [daily.loc[spike, "kpi_date"]]
    expected = anomalies.calendar_baselines(daily).set_index("kpi_date")["baseline"]
    monday = next(i for i in wave if pd.Timestamp(daily.loc[i, "kpi_date"]).dayofweek == 0)
    assert expected[daily.loc[monday, "kpi_date"]] > 1.2 * 50


def invoices_and_lines(n: int = 300, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2025-03-03 09:00", tz="Europe/Paris") + pd.to_timedelta(rng.integers(0, 120, n), "D")
    created = created + pd.to_timedelta(rng.integers(0, 8 * 3600, n), "s")
    created = created.where(created.dayofweek < 5, created + pd.Timedelta(days=2))
    numbers = [f"FA{i:06d}" for i in range(n)]
    quantity = np.where(rng.random(n) < 0.8, 1.0, 2.0)  # mostly one visit, sometimes two
    invoices = pd.DataFrame({
        "invoice_number": numbers, "document_kind": "invoice", "erp_customer_code": [f"CL{i % 40:06d}" for i in range(n)],
        "invoice_date": created.date, "created_at": created.tz_convert("UTC"), "total_ht": 145.0 * quantity,
        "credited_invoice_number": None, "duplicate_of_invoice_number": None,
    })  # fmt: skip
    lines = pd.DataFrame({"document_number": numbers, "item_ref": "ENT-CHAUD", "item_name": "Entretien chaudière",
                          "quantity": quantity, "amount_ht": 145.0 * quantity})  # fmt: skip
    return invoices, lines


def test_each_kind_of_erp_anomaly_is_found_and_only_it() -> None:
    invoices, lines = invoices_and_lines()
    # an abnormal quantity, a copy flagged by the warehouse, a night entry, an orphan credit note
    lines.loc[10, ["quantity", "amount_ht"]] = [40.0, 5800.0]
    invoices.loc[10, "total_ht"] = 5800.0
    invoices.loc[20, "duplicate_of_invoice_number"] = "FA000019"
    invoices.loc[30, "created_at"] = pd.Timestamp("2025-04-12 02:40", tz="Europe/Paris").tz_convert("UTC")
    credit = {"invoice_number": "AV000001", "document_kind": "credit_note", "erp_customer_code": "CL000003",
              "invoice_date": pd.Timestamp("2025-04-01").date(), "created_at": pd.Timestamp("2025-04-01 10:00", tz="UTC"),
              "total_ht": -120.0, "credited_invoice_number": None, "duplicate_of_invoice_number": None}  # fmt: skip
    invoices = pd.concat([invoices, pd.DataFrame([credit])], ignore_index=True)
    found = anomalies.detect_erp_anomalies(invoices, lines)
    by_kind = found.groupby("kind")["reference"].apply(set).to_dict()
    assert by_kind == {
        "erp_abnormal_amount": {"FA000010"},
        "erp_duplicate": {"FA000020"},
        "erp_night_weekend": {"FA000030"},
        "erp_credit_without_invoice": {"AV000001"},
    }
    explanation = found.set_index("kind").loc["erp_abnormal_amount", "explanation"]
    assert "40 fois le montant habituel de l'article (145,00 €)" in explanation
    assert (
        "saisie la nuit, le samedi 12/04/2025 à 02:40"
        in found.set_index("kind").loc["erp_night_weekend", "explanation"]
    )


def test_bad_input_names_the_model_the_input_and_what_is_missing() -> None:
    with pytest.raises(ModelInputError, match=r"anomaly_detection: input marts.mart_kpi_daily has 30 days"):
        anomalies.detect_kpi_anomalies(days(30))
    with pytest.raises(ModelInputError, match=r"input marts.fct_invoices lacks column\(s\) created_at"):
        anomalies.detect_erp_anomalies(invoices_and_lines()[0].drop(columns=["created_at"]), invoices_and_lines()[1])
