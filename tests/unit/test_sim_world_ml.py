"""What the platform's models must be able to learn from the world.

Churn: features computed here from the world's activity tables (the events the sources show),
a logistic regression trained on earlier monthly snapshots and scored as of `end_date` against
`churned_within_180d`. Segments: K-Means on the standardised RFM of the ERP invoices.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, roc_auc_score, silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from simulators.world import World, WorldConfig, build_world, catalog


@pytest.fixture(scope="module")
def world() -> World:
    # Three times the specification's size, so the 180-day outcome has enough leavers to score.
    return build_world(WorldConfig(end_date=date(2025, 6, 30), seed=11, scale=3, years=2))


def churn_features(world: World, day: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The specification's churn features as of the start of `day`, for customers active then."""
    b = world.behaviour
    arrival = world.customers["arrival_day"].to_numpy()
    signup_day = (pd.to_datetime(world.customers["signup_date"]) - pd.Timestamp(world.config.warmup_start)).dt.days
    active = np.flatnonzero((arrival < day) & (b.churn_day >= day))

    def per_customer(events: pd.DataFrame, start: int, column: str | None = None, how: str = "size") -> pd.Series:
        window = events[(events["day"] >= start) & (events["day"] < day)]
        grouped = window.groupby("customer")
        values = grouped.size() if column is None else grouped[column].agg(how)
        return values.reindex(active)

    inbound = b.calls[b.calls["channel"] != "outbound"]
    done = b.interventions[~b.interventions["cancelled"]]
    scores = pd.concat(
        [
            b.tickets.loc[b.tickets["csat_responded"], ["day", "customer", "csat_score"]].rename(
                columns={"csat_score": "score"}
            ),
            done.loc[done["satisfaction"].notna(), ["day", "customer", "satisfaction"]].rename(
                columns={"satisfaction": "score"}
            ),
        ]
    )
    unvalidated = b.quotes[b.quotes["outcome"] != "accepted"].assign(day=lambda q: q["decision_day"])
    contacts = pd.concat([inbound[["day", "customer"]], b.tickets[["day", "customer"]], done[["day", "customer"]]])
    last_contact = contacts[contacts["day"] < day].groupby("customer")["day"].max().reindex(active)
    recent_calls = per_customer(inbound, day - 90).fillna(0)
    earlier_calls = per_customer(inbound, day - 270).fillna(0) - recent_calls
    features = pd.DataFrame(
        {
            "call_trend": np.log((recent_calls + 1) / (earlier_calls / 2 + 1)),
            "days_since_last_contact": day - last_contact.fillna(pd.Series(arrival[active], index=active)),
            "avg_satisfaction": per_customer(scores, day - 180, "score", "mean").fillna(4.2),
            "complaints_90d": per_customer(b.tickets[b.tickets["motive"] == catalog.RECLAMATION], day - 90).fillna(0),
            "avg_delay_min_180d": per_customer(
                done.assign(late=done["delay_min"].clip(lower=0)), day - 180, "late", "mean"
            ).fillna(0),
            "unvalidated_quotes_180d": per_customer(unvalidated, day - 180).fillna(0),
            "short_tenure": (day - signup_day.to_numpy()[active] < 365).astype(float),
        },
        index=active,
    )
    features["days_since_last_contact"] = np.log1p(features["days_since_last_contact"])
    left_within_180d = b.churn_day[active] < day + 180
    return features, left_within_180d


def test_churn_is_predictable_from_the_features_at_the_end_date(world: World) -> None:
    cutoff = world.end_index + 1
    # Training snapshots whose 180-day outcome is already known at the end date.
    training = [churn_features(world, day) for day in range(cutoff - 180, world.start_index, -30)]
    x_train = pd.concat([f for f, _ in training])
    y_train = np.concatenate([y for _, y in training])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_train, y_train)

    x_end, _ = churn_features(world, cutoff)
    truth = world.churn_truth().set_index("customer")
    y_end = truth.loc[x_end.index, "churned_within_180d"].to_numpy()
    assert 30 < y_end.sum() < 0.2 * len(y_end)
    auc = roc_auc_score(y_end, model.predict_proba(x_end)[:, 1])
    assert auc > 0.75, f"ROC AUC {auc:.3f}"
    # The planted probability ranks the outcomes too, and is about the right size.
    assert roc_auc_score(y_end, truth.loc[x_end.index, "churn_prob_180d"]) > 0.75
    assert 0.5 < truth["churn_prob_180d"].sum() / y_end.sum() < 1.5


def test_rfm_segments_are_separable(world: World) -> None:
    documents = world.ledger.documents
    invoices = documents[
        (documents["prefix"] == "FA")
        & (documents["created_utc"] >= world.history_start)
        & (documents["created_utc"] < world.snapshot)
    ]
    rfm = invoices.groupby("customer").agg(
        last=("do_date", "max"), frequency=("doc_key", "size"), monetary=("total_ht", "sum")
    )
    rfm["recency"] = (pd.Timestamp(world.config.end_date) - rfm["last"]).dt.days
    features = StandardScaler().fit_transform(rfm[["recency", "frequency", "monetary"]])
    clusters = KMeans(n_clusters=6, n_init=10, random_state=0).fit_predict(features)
    segments = world.true_segments()[rfm.index]
    assert set(segments) == set(catalog.SEGMENTS)
    assert silhouette_score(features, clusters) > 0.45
    assert adjusted_rand_score(segments, clusters) > 0.45
