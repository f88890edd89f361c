"""ml_tasks.churn on hand-built snapshots: features, training on time, reasons, bands, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks import churn
from ml_tasks.validation import ModelInputError


def snapshots(months: int = 10, customers: int = 300, seed: int = 0) -> pd.DataFrame:
    """Month-end snapshots where leaving is driven by silence and complaints, as the spec says."""
    rng = np.random.default_rng(seed)
    frames = []
    for m in range(months):
        as_of = pd.Timestamp("2025-01-31") + pd.offsets.MonthEnd(m)
        silence = rng.exponential(40, customers)
        complaints = rng.poisson(0.4, customers)
        risk = 1 / (1 + np.exp(-(-4.5 + 0.025 * silence + 0.9 * complaints)))
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [f"CL{i:06d}" for i in range(customers)],
                    "as_of_date": as_of.date(),
                    "history_days": 400 + 30 * m,
                    "tenure_days": rng.integers(200, 4000, customers),
                    "calls_last_90d": rng.poisson(3, customers),
                    "calls_previous_180d": rng.poisson(6, customers),
                    "days_since_last_contact": silence.round(),
                    "satisfaction_scores_last_180d": rng.integers(0, 4, customers),
                    "avg_satisfaction_last_180d": rng.uniform(3, 5, customers).round(2),
                    "complaints_last_90d": complaints,
                    "interventions_last_180d": rng.integers(0, 4, customers),
                    "avg_intervention_delay_minutes_last_180d": rng.uniform(0, 20, customers),
                    "unvalidated_quotes_last_180d": rng.poisson(0.2, customers),
                    "revenue_last_365d_eur": rng.uniform(100, 3000, customers),
                    churn.LABEL: (rng.random(customers) < risk) if m < months - 2 else None,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def training() -> churn.ChurnTraining:
    return churn.train(snapshots(), holdout_months=3)


def test_call_rates_account_for_the_visible_exposure() -> None:
    young = snapshots(months=1, customers=2).assign(history_days=45, tenure_days=45, calls_last_90d=3)
    features = churn.build_features(young)
    # 3 calls in the 45 days the warehouse can see is 2 a month, not 1.
    assert features["calls_per_month_recent"].tolist() == pytest.approx([2.0, 2.0])
    assert (features["call_trend"] == 0).all()  # not measurable on 45 days


def test_training_splits_on_time_and_beats_the_base_rate(training: churn.ChurnTraining) -> None:
    window = training.window
    assert window["train_to"] < window["holdout_from"] <= window["holdout_to"]
    assert training.holdout["as_of_date"].min() >= pd.Timestamp(window["holdout_from"])
    production = training.metrics[churn.MODEL_NAME]
    assert production["roc_auc"] > 0.75 > training.metrics["base_rate"]["roc_auc"]
    assert production["brier"] < training.metrics["base_rate"]["brier"]
    assert set(training.metrics) == {churn.MODEL_NAME, "logistic_regression", "random_forest_spec", "base_rate"}


def test_the_scoring_model_is_refit_on_the_holdout_months_too(training: churn.ChurnTraining) -> None:
    # The metrics are the holdout fit's; the model returned for scoring has also learnt the most
    # recent labelled months, so it differs from a fit that stops before the holdout.
    assert training.window["refit_to"] == training.window["holdout_to"]
    holdout_only = churn.train(snapshots(), holdout_months=3, refit=False)
    assert "refit_to" not in holdout_only.window and holdout_only.metrics == training.metrics
    latest = churn.build_features(snapshots().query("as_of_date == as_of_date.max()"), 4.0)
    assert not np.allclose(training.model.predict_proba(latest), holdout_only.model.predict_proba(latest))


def test_probabilities_are_calibrated_on_the_holdout(training: churn.ChurnTraining) -> None:
    holdout = training.holdout
    assert holdout[churn.MODEL_NAME].mean() == pytest.approx(holdout["label"].mean(), abs=0.05)


def test_reasons_name_the_features_that_raise_the_risk(training: churn.ChurnTraining) -> None:
    latest = snapshots().query("as_of_date == as_of_date.max()").copy()
    latest.loc[latest.index[0], ["days_since_last_contact", "complaints_last_90d"]] = [240, 4]
    latest.loc[latest.index[1], ["days_since_last_contact", "complaints_last_90d"]] = [2, 0]
    scores = churn.score(training.model, latest).set_index("customer_id")
    unhappy, happy = scores.loc["CL000000"], scores.loc["CL000001"]
    assert unhappy["score"] > happy["score"]
    assert set(unhappy["reason_features"][:2]) == {"days_since_last_contact", "complaints_90d"}
    assert "plus de contact depuis 240 jours" in unhappy["reasons"]
    assert "4 réclamations en 3 mois" in unhappy["reasons"]
    assert len(unhappy["reasons"]) <= 3
    assert scores["score"].between(0, 100).all()


def test_bands_follow_the_specification_thresholds() -> None:
    assert [churn.band(s) for s in (10, 50, 51, 70, 71, 100)] == [
        "faible",
        "faible",
        "moyen",
        "moyen",
        "élevé",
        "élevé",
    ]


def test_reason_texts_read_as_french_sentences() -> None:
    row = pd.Series({"calls_per_month_previous": 4.0, "calls_per_month_recent": 1.0, "complaints_90d": 1.0,
                     "unvalidated_quotes_180d": 2.0, "tenure_days": 213.0, "satisfaction_answers": 3.0,
                     "raw_satisfaction": 2.33, "avg_delay_minutes_180d": 47.6})  # fmt: skip
    assert churn.reason_text("call_trend", row) == "appels en baisse de 75 % sur 3 mois"
    assert churn.reason_text("complaints_90d", row) == "1 réclamation en 3 mois"
    assert churn.reason_text("unvalidated_quotes_180d", row) == "2 devis non validés en 6 mois"
    assert churn.reason_text("tenure_days", row) == "client depuis 7 mois seulement"
    assert churn.reason_text("satisfaction", row) == "satisfaction moyenne de 2,3/5 sur 6 mois (3 notes)"


def test_bad_input_names_the_model_the_input_and_what_is_missing() -> None:
    with pytest.raises(ModelInputError, match=r"churn_lightgbm: input marts.ml_customer_features is empty"):
        churn.train(snapshots().iloc[0:0])
    with pytest.raises(ModelInputError, match=r"lacks column\(s\) days_since_last_contact"):
        churn.train(snapshots().drop(columns=["days_since_last_contact"]))
    with pytest.raises(ModelInputError, match=r"only nulls in calls_last_90d"):
        churn.train(snapshots().assign(calls_last_90d=None))
    with pytest.raises(ModelInputError, match=r"1 snapshot dates with a known 180-day outcome, needs at least 4"):
        churn.train(snapshots(months=3))
