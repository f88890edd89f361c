"""The churn hazard: a monthly logistic hazard on the specification's churn features.

Features (003, Modèle 2), each computed from the customer's own activity over trailing windows:
falling call frequency, days since the last contact, low average satisfaction, complaints,
intervention delays, unvalidated quotes and short tenure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = (
    "call_trend",
    "days_since_last_contact",
    "avg_satisfaction",
    "complaints_90d",
    "avg_delay_min_180d",
    "unvalidated_quotes_180d",
    "tenure_days",
)
RECENT_DAYS = 90
PREVIOUS_DAYS = 180
SATISFACTION_DAYS = 180
NEUTRAL_SATISFACTION = 4.2
SATISFACTION_PRIOR_WEIGHT = 2.0
MIN_EXPOSURE_DAYS = 60

INTERCEPT = -7.9
WEIGHTS = {
    "call_decline": 1.0,  # per unit of log drop in the call rate
    "silence": 0.75,  # per unit of log1p(days since last contact / 30)
    "dissatisfaction": 1.3,  # per point of average satisfaction below 4.2 / 5
    "complaints": 0.28,  # per complaint in the last 90 days (capped at 8)
    "delay": 0.015,  # per minute of average lateness of interventions
    "unvalidated": 0.4,  # per refused or expired quote (capped at 5)
    "short_tenure": 0.7,  # customer for less than a year
}


def monthly_hazard(features: pd.DataFrame) -> np.ndarray:
    """Probability of leaving within the next month given the features."""
    logit = (
        INTERCEPT
        + WEIGHTS["call_decline"] * np.clip(-features["call_trend"].to_numpy(), 0, None)
        + WEIGHTS["silence"] * np.log1p(features["days_since_last_contact"].to_numpy() / 30)
        + WEIGHTS["dissatisfaction"] * np.clip(NEUTRAL_SATISFACTION - features["avg_satisfaction"].to_numpy(), 0, None)
        + WEIGHTS["complaints"] * np.minimum(features["complaints_90d"].to_numpy(), 8)
        + WEIGHTS["delay"] * np.clip(features["avg_delay_min_180d"].to_numpy(), 0, None)
        + WEIGHTS["unvalidated"] * np.minimum(features["unvalidated_quotes_180d"].to_numpy(), 5)
        + WEIGHTS["short_tenure"] * (features["tenure_days"].to_numpy() < 365)
    )
    return 1 / (1 + np.exp(-logit))


def probability_within(features: pd.DataFrame, months: int = 6) -> np.ndarray:
    """Chance of leaving within `months` if the features stayed as they are."""
    return 1 - (1 - monthly_hazard(features)) ** months


class ActivityTrail:
    """Per customer and day, the activity the churn features read (dense arrays, one row a day)."""

    def __init__(self, n_days: int, n_customers: int, arrival_day: np.ndarray, signup_day: np.ndarray) -> None:
        shape = (n_days, n_customers)
        self.calls = np.zeros(shape, np.float32)
        self.complaints = np.zeros(shape, np.float32)
        self.satisfaction_sum = np.zeros(shape, np.float32)
        self.satisfaction_count = np.zeros(shape, np.float32)
        self.delay_sum = np.zeros(shape, np.float32)
        self.delay_count = np.zeros(shape, np.float32)
        self.unvalidated = np.zeros(shape, np.float32)
        self.last_contact = arrival_day.astype(np.int64).copy()
        self.arrival_day = arrival_day
        self.signup_day = signup_day

    def touch(self, day: int, customers: np.ndarray) -> None:
        self.last_contact[customers] = np.maximum(self.last_contact[customers], day)

    def _exposure(self, start: int, stop: int) -> np.ndarray:
        return np.clip(stop - np.maximum(start, self.arrival_day), 0, stop - start)

    def features(self, day: int) -> pd.DataFrame:
        """The features every customer shows at the start of `day` (activity of days before it)."""
        recent = slice(max(day - RECENT_DAYS, 0), day)
        previous = slice(max(day - RECENT_DAYS - PREVIOUS_DAYS, 0), max(day - RECENT_DAYS, 0))
        recent_exposure = self._exposure(recent.start, recent.stop)
        previous_exposure = self._exposure(previous.start, previous.stop)
        with np.errstate(divide="ignore", invalid="ignore"):
            recent_rate = self.calls[recent].sum(0) / recent_exposure * 30
            previous_rate = self.calls[previous].sum(0) / previous_exposure * 30
            trend = np.log((recent_rate + 1) / (previous_rate + 1))
        measurable = (recent_exposure >= MIN_EXPOSURE_DAYS) & (previous_exposure >= MIN_EXPOSURE_DAYS)
        window = slice(max(day - SATISFACTION_DAYS, 0), day)
        score_sum = self.satisfaction_sum[window].sum(0)
        score_count = self.satisfaction_count[window].sum(0)
        delay_count = self.delay_count[window].sum(0)
        return pd.DataFrame(
            {
                "call_trend": np.where(measurable, trend, 0.0),
                "days_since_last_contact": np.maximum(day - self.last_contact, 0),
                # Shrunk towards neutral so one bad score among none does not dominate.
                "avg_satisfaction": (score_sum + SATISFACTION_PRIOR_WEIGHT * NEUTRAL_SATISFACTION)
                / (score_count + SATISFACTION_PRIOR_WEIGHT),
                "complaints_90d": self.complaints[recent].sum(0),
                "avg_delay_min_180d": np.where(
                    delay_count > 0, self.delay_sum[window].sum(0) / np.maximum(delay_count, 1), 0.0
                ),
                "unvalidated_quotes_180d": self.unvalidated[window].sum(0),
                "tenure_days": day - self.signup_day,
            }
        )
