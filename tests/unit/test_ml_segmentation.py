"""ml_tasks.segmentation on hand-built RFM frames: naming from profiles, K choice, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_tasks import segmentation as seg
from ml_tasks.validation import ModelInputError


def profile(recency, tenure, frequency, monetary) -> dict:
    return {"recency_days": recency, "customer_tenure_days": tenure, "frequency_per_year": frequency,
            "monetary_per_year": monetary}  # fmt: skip


def test_clear_profiles_get_the_six_names_of_004() -> None:
    profiles = pd.DataFrame(
        [
            profile(8, 3000, 40, 9000),  # bought last week, very often, a lot
            profile(20, 2500, 16, 2200),
            profile(40, 2000, 3, 450),
            profile(200, 2200, 4, 600),  # silent for half a year
            profile(30, 90, 2, 300),  # signed up three months ago
            profile(600, 3000, 1, 150),  # silent for almost two years
        ]
    )
    assert seg.name_segments(profiles) == {
        0: seg.VIP, 1: seg.LOYAL, 2: seg.POTENTIAL, 3: seg.AT_RISK, 4: seg.NEW, 5: seg.LOST,
    }  # fmt: skip


def test_no_vip_without_a_clearly_richer_cluster() -> None:
    profiles = pd.DataFrame([profile(20, 2000, 10, 2000), profile(25, 2000, 9, 2100), profile(30, 2000, 2, 400)])
    names = seg.name_segments(profiles)
    assert seg.VIP not in names.values() and names[2] == seg.POTENTIAL


def test_a_tiny_cluster_of_rare_buyers_does_not_make_the_others_potential_loyalists() -> None:
    # 3 customers buying twice a year, 100 at 7 a year, 90 at 24 and 20 VIPs: the split is between 7 and 24
    # (the geometric mean of the extremes, 6.9, made the 100 Loyal).
    profiles = pd.DataFrame(
        [profile(30, 2000, 2, 400), profile(30, 2000, 7, 1400), profile(10, 2000, 24, 4800),
         profile(5, 2000, 55, 30000)]
    ).assign(customers=[3, 100, 90, 20])  # fmt: skip
    assert seg.name_segments(profiles) == {0: seg.POTENTIAL, 1: seg.POTENTIAL, 2: seg.LOYAL, 3: seg.VIP}


def rfm_world(seed: int = 3) -> pd.DataFrame:
    """Four well separated groups of customers: VIP, loyal, lost and new."""
    rng = np.random.default_rng(seed)
    groups = [  # (n, recency, frequency, basket, tenure)
        (40, 10, 60, 600, 3000),
        (120, 30, 20, 250, 2500),
        (60, 600, 6, 120, 3000),
        (40, 25, 2, 200, 80),
    ]
    rows = []
    for n, recency, frequency, basket, tenure in groups:
        f = np.maximum(1, rng.poisson(frequency, n))
        b = basket * rng.lognormal(0, 0.15, n)
        rows.append(pd.DataFrame({
            "recency_days": (recency * rng.lognormal(0, 0.2, n)).round(), "frequency": f, "monetary_eur": f * b,
            "avg_basket_eur": b, "tenure_days": np.full(n, min(tenure, 700)), "category_count": rng.integers(1, 4, n),
            "customer_tenure_days": (tenure * rng.lognormal(0, 0.1, n)).round(), "median_basket_eur": 0.9 * b,
            "days_since_lost": np.nan,
        }))  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    frame.insert(0, "customer_id", [f"CL{i:06d}" for i in range(len(frame))])
    return frame


def test_training_finds_the_groups_and_names_them() -> None:
    rfm = rfm_world()
    model, metrics = seg.train(rfm)
    segments = seg.segment(model, rfm)["segment"]
    assert metrics["silhouette"] > 0.4 and metrics["davies_bouldin"] < 1.2
    assert segments.iloc[:40].eq(seg.VIP).mean() > 0.9
    assert segments.iloc[160:220].eq(seg.LOST).mean() > 0.9
    assert segments.iloc[220:].eq(seg.NEW).mean() > 0.9
    assert set(model.choice.silhouette) <= set(seg.K_RANGE) and model.kmeans.n_clusters >= model.choice.elbow


def test_plots_are_pngs() -> None:
    rfm = rfm_world()
    model, _ = seg.train(rfm)
    pngs = seg.plots(model, rfm)
    assert set(pngs) == {"elbow_silhouette", "pca"}
    assert all(p.startswith(b"\x89PNG") and len(p) > 10_000 for p in pngs.values())


def test_bad_input_names_the_model_the_input_and_what_is_missing() -> None:
    with pytest.raises(ModelInputError, match=r"segmentation_kmeans: input marts.ml_rfm is empty"):
        seg.train(rfm_world().iloc[0:0])
    with pytest.raises(ModelInputError, match=r"has 10 rows, needs at least 30"):
        seg.train(rfm_world().iloc[:10])
    with pytest.raises(ModelInputError, match=r"lacks column\(s\) customer_tenure_days"):
        seg.train(rfm_world().drop(columns=["customer_tenure_days"]))


def test_lifecycle_segments_are_decided_per_customer_before_clustering() -> None:
    rfm = rfm_world()
    # One VIP-like customer silent for 400 days, one for 200 days at its monthly rhythm, one signed up last month.
    rfm.loc[0, "recency_days"] = 400
    rfm.loc[1, ["recency_days", "tenure_days"]] = [200, 700]
    rfm.loc[2, "customer_tenure_days"] = 30
    model, metrics = seg.train(rfm)
    scored = seg.segment(model, rfm)
    assert list(scored["segment"].iloc[:3]) == [seg.LOST, seg.AT_RISK, seg.NEW]
    assert (scored["cluster"].iloc[:3] == seg.LIFECYCLE_CLUSTER).all()
    # the clusters hold the active customers only: no cluster is named by a lifecycle rule
    assert set(model.names.values()) <= {seg.VIP, seg.LOYAL, seg.POTENTIAL}
    assert metrics["active_customers"] == int((scored["cluster"] != seg.LIFECYCLE_CLUSTER).sum())


def test_customers_the_crm_has_lost_are_at_risk_then_lost_whatever_they_bought() -> None:
    rfm = rfm_world()
    # VIP-like customers who bought last week, recorded as lost 20 and 400 days ago.
    rfm.loc[[0, 1], "days_since_lost"] = [20, 400]
    model, _ = seg.train(rfm)
    scored = seg.segment(model, rfm)
    assert list(scored["segment"].iloc[:3]) == [seg.AT_RISK, seg.LOST, seg.VIP]


def test_an_ordinary_gap_of_a_rare_buyer_is_not_dormancy() -> None:
    rfm = rfm_world()
    # About six invoices a year: 150 days silent is 2.5 purchases missed (active), 300 days 5.3.
    rfm.loc[[40, 41], "tenure_days"] = 700
    rfm.loc[[40, 41], "recency_days"] = [150, 300]
    rfm.loc[[40, 41], "frequency"] = [9, 7]
    features = seg.build_features(rfm)
    assert list(seg.lifecycle_segments(features)[40:42]) == ["", seg.AT_RISK]
