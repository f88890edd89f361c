"""Customer segmentation (004): RFM + K-Means, segments named automatically from their profiles.

Input: one snapshot of `marts.ml_rfm` (customers with at least one invoice as of a date):
recency, frequency, monetary, average and median basket, tenure since the first purchase, number of
product categories, the customer's tenure since it signed up, and the days since the CRM recorded it
as lost, if it did.

- `build_features` puts them on the scales K-Means can compare: logs of the skewed amounts and
  durations, frequency as invoices per year while the customer buys, the purchases that rhythm
  says it has skipped since its last one (a rare buyer silent for 4 months is not dormant; a
  monthly one is), then standard scaling.
- Two stages. 004 defines three of its six segments by where the customer is in its life, not by
  how much it buys: `lifecycle_segments` applies those definitions to each customer (recorded as
  lost by the CRM ("clients perdus"), or silent, for more than a year: "Lost Customers"; lost more
  recently, or silent for more than `AT_RISK_DAYS` and `MISSED_AT_RISK` purchases of its own
  rhythm: "At Risk / Dormant"; signed up less than `NEW_DAYS` ago: "New Customers").
  K-Means then groups the remaining, active customers by how often and how much they buy
  (`CLUSTER_FEATURES`: invoices per year, median invoice), and `name_segments` names each cluster
  from its median profile: the clearly richest "VIP Champions"; of the others, the less frequent
  side of the best frequency split "Potential Loyalists", the rest "Loyal Customers". One K-Means
  over everyone (the previous design) let the elbow pick K = 4 and merged Loyal into VIP and Lost
  into At Risk (ARI 0.58); per-cluster medians blurred the lifecycle boundaries. Several clusters
  may share a name.
- `choose_k` computes inertia (elbow) and silhouette for K = 2..10 on the active customers; K is
  the elbow of the inertia curve unless a larger K up to 10 separates better (higher silhouette),
  as 004 reads the two curves.
- Quality: silhouette and Davies-Bouldin of the clusters; `plots` draws the elbow/silhouette curves
  and every customer on the first two principal components, coloured by its segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_tasks.drift import FeatureReference, reference
from ml_tasks.validation import ModelInputError, require_frame

MODEL_NAME = "segmentation_kmeans"
SOURCE = "marts.ml_rfm"
VIP, LOYAL, AT_RISK, NEW, POTENTIAL, LOST = (
    "VIP Champions",
    "Loyal Customers",
    "At Risk / Dormant",
    "New Customers",
    "Potential Loyalists",
    "Lost Customers",
)
SEGMENTS = (VIP, LOYAL, AT_RISK, NEW, POTENTIAL, LOST)
K_RANGE = range(2, 11)
MIN_CUSTOMERS = 30
# Profile thresholds of the naming, in days (004: "Recency très élevée" = lost, "élevée" = at risk).
LOST_DAYS = 365
AT_RISK_DAYS = 120
NEW_DAYS = 180
VIP_VALUE_RATIO = 2.5  # a VIP cluster spends this many times what the median active customer does

INPUT_COLUMNS = (
    "customer_id",
    "recency_days",
    "frequency",
    "monetary_eur",
    "avg_basket_eur",
    "tenure_days",
    "category_count",
    "customer_tenure_days",
    "median_basket_eur",
    "days_since_lost",
)
FEATURES = (
    "log_recency",
    "log_frequency_per_year",
    "log_missed_purchases",
    "log_avg_basket",
    "log_median_basket",
    "log_customer_tenure",
    "category_count",
)
# Purchases the customer's own rhythm says it should have made since its last one. A customer still
# buying at that rhythm stays this long silent with probability exp(-MISSED_AT_RISK) (the wait for
# the next event of a Poisson process): ln 100, one active customer in a hundred flagged by chance.
# At 3 (5 %), a rare buyer's ordinary gap read as dormancy (6 of 125 Potential Loyalists at seed 42).
MISSED_AT_RISK = float(np.log(100))
# K-Means on the active customers: how often (invoices per year) and how much (the median invoice:
# the mean moves with one installation among visits, and put high-basket Loyal customers in the VIP
# cluster). Earlier: frequency + average basket, chosen on the month ends 2025-09..2026-03 (mean ARI
# 0.59, vs 0.57 adding recency, 0.54 adding categories).
CLUSTER_FEATURES = ("log_frequency_per_year", "log_median_basket")
LIFECYCLE_CLUSTER = -1  # the `cluster` of a customer its lifecycle segments, not K-Means


def build_features(rfm: pd.DataFrame) -> pd.DataFrame:
    """Model features per customer (index kept); the raw RFM values ride along for naming."""
    require_frame(
        rfm,
        MODEL_NAME,
        SOURCE,
        columns=INPUT_COLUMNS,
        not_all_null=("recency_days", "frequency", "monetary_eur"),
        min_rows=MIN_CUSTOMERS,
    )
    r = rfm
    recency = r["recency_days"].astype(float).clip(lower=0)
    # The customer's rhythm while it buys: invoices per year between its first and its last
    # purchase (at least a quarter), and how many purchases that rhythm says it has skipped since.
    active_years = np.maximum(r["tenure_days"].astype(float) - recency, 91) / 365.25
    per_year = r["frequency"].astype(float).clip(lower=1) / active_years
    missed = recency * per_year / 365.25
    out = pd.DataFrame(
        {
            "customer_id": r["customer_id"].to_numpy(),
            "log_recency": np.log1p(recency),
            "log_frequency_per_year": np.log(per_year),
            "log_missed_purchases": np.log1p(missed),
            "log_avg_basket": np.log1p(r["avg_basket_eur"].astype(float).fillna(0).clip(lower=0)),
            "log_median_basket": np.log1p(r["median_basket_eur"].astype(float).fillna(0).clip(lower=0)),
            "log_customer_tenure": np.log1p(r["customer_tenure_days"].astype(float).fillna(0).clip(lower=0)),
            "category_count": r["category_count"].astype(float).fillna(0),
            "recency_days": recency,
            "frequency": r["frequency"].astype(float),
            "monetary_eur": r["monetary_eur"].astype(float),
            "avg_basket_eur": r["avg_basket_eur"].astype(float),
            "median_basket_eur": r["median_basket_eur"].astype(float),
            "customer_tenure_days": r["customer_tenure_days"].astype(float),
            "days_since_lost": r["days_since_lost"].astype(float),
            "frequency_per_year": per_year,
            "missed_purchases": missed,
            "monetary_per_year": per_year * r["avg_basket_eur"].astype(float).fillna(0).clip(lower=0),
        },
        index=r.index,
    )
    nulls = [c for c in FEATURES if out[c].isna().any()]
    if nulls:
        raise ModelInputError(MODEL_NAME, SOURCE, f"has nulls in {', '.join(nulls)} after cleaning")
    return out


@dataclass
class KChoice:
    k: int
    inertia: dict[int, float]
    silhouette: dict[int, float]
    elbow: int


def _elbow(inertia: dict[int, float]) -> int:
    """The K farthest below the straight line from the first to the last point of the curve."""
    ks = np.array(sorted(inertia))
    values = np.array([inertia[k] for k in ks])
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (values - values[-1]) / max(values[0] - values[-1], 1e-12)
    return int(ks[np.argmax((1 - x) - y)])


def choose_k(scaled: np.ndarray, seed: int = 42, k_range: range = K_RANGE) -> KChoice:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    inertia, silhouette = {}, {}
    sample = min(len(scaled), 3000)  # silhouette is quadratic: a fixed sample beyond 3,000 customers
    for k in k_range:
        if k >= len(scaled):
            break
        fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(scaled)
        inertia[k] = float(fit.inertia_)
        silhouette[k] = float(silhouette_score(scaled, fit.labels_, sample_size=sample, random_state=seed))
    elbow = _elbow(inertia)
    # From the elbow on, the K that separates best.
    k = max((k for k in silhouette if k >= elbow), key=lambda k: silhouette[k])
    return KChoice(k, inertia, silhouette, elbow)


def _lifecycle(recency, missed, customer_tenure, days_since_lost=np.nan) -> np.ndarray:
    """004's lifecycle segments ("" for an active customer) from recency, missed purchases, tenure and
    the days since the CRM recorded the customer as lost (NaN while it is not)."""
    recency, missed, tenure = (np.asarray(v, dtype=float) for v in (recency, missed, customer_tenure))
    lost = np.broadcast_to(np.asarray(days_since_lost, dtype=float), recency.shape)
    # A customer the CRM has lost is no longer active, whatever it bought last month: lost within
    # the year, it is the one to win back; over a year ago, as lost as one silent that long.
    return np.select(
        [
            lost > LOST_DAYS,
            lost >= 0,
            recency > LOST_DAYS,
            (recency > AT_RISK_DAYS) & (missed >= MISSED_AT_RISK),
            tenure < NEW_DAYS,
        ],
        [LOST, AT_RISK, LOST, AT_RISK, NEW],
        default="",
    )


def lifecycle_segments(features: pd.DataFrame) -> np.ndarray:
    """Per customer (rows of `build_features`): Lost, At Risk, New, or "" when active."""
    return _lifecycle(
        features["recency_days"], features["missed_purchases"], features["customer_tenure_days"],
        features["days_since_lost"],
    )  # fmt: skip


def _frequency_split(log_frequency: np.ndarray, customers: np.ndarray) -> float:
    """The log frequency that splits clusters into two groups as distinct as possible (largest
    between-group variance, each cluster weighted by its customers: Otsu's threshold). A tiny
    cluster of very rare buyers does not move it, as it moved the geometric mean of the extremes."""
    order = np.argsort(log_frequency)
    values, weights = np.asarray(log_frequency, float)[order], np.asarray(customers, float)[order]
    best, threshold = -1.0, float(values[0])
    for i in range(1, len(values)):
        low, high = weights[:i].sum(), weights[i:].sum()
        gap = np.average(values[:i], weights=weights[:i]) - np.average(values[i:], weights=weights[i:])
        if low * high * gap**2 > best:
            best, threshold = low * high * gap**2, (values[i - 1] + values[i]) / 2
    return threshold


def name_segments(profiles: pd.DataFrame) -> dict[int, str]:
    """A segment name per cluster from its median profile (columns recency_days, customer_tenure_days,
    frequency_per_year, monetary_per_year; `missed_purchases` and `customers` optional, index = cluster)."""
    names: dict[int, str] = {}
    active = []
    missed = profiles.get("missed_purchases", MISSED_AT_RISK)
    stage = _lifecycle(profiles["recency_days"], np.broadcast_to(missed, len(profiles)),
                       profiles["customer_tenure_days"])  # fmt: skip
    for cluster, name in zip(profiles.index, stage, strict=True):
        if name:
            names[cluster] = str(name)
        else:
            active.append(cluster)
    if active:
        value = profiles.loc[active, "monetary_per_year"]
        frequency = profiles.loc[active, "frequency_per_year"]
        typical_value = float(np.median(value)) if len(active) > 2 else float(value.min())
        for cluster in active:
            names[cluster] = LOYAL
        top = value.idxmax()
        if len(active) > 1 and value[top] >= VIP_VALUE_RATIO * typical_value:
            names[top] = VIP
        rest = [c for c in active if names[c] != VIP]
        if len(rest) > 1:
            # the less frequent active buyers are the ones to grow
            customers = profiles.loc[rest, "customers"] if "customers" in profiles else pd.Series(1, index=rest)
            threshold = _frequency_split(np.log(frequency[rest].to_numpy()), customers.to_numpy())
            for cluster in rest:
                if np.log(frequency[cluster]) < threshold:
                    names[cluster] = POTENTIAL
    return names


@dataclass
class SegmentationModel:
    scaler: object  # sklearn StandardScaler, on CLUSTER_FEATURES of the active customers
    kmeans: object  # sklearn KMeans
    names: dict[int, str]
    profiles: pd.DataFrame  # median profile per cluster (business units) and its name
    choice: KChoice
    references: list[FeatureReference] = field(default_factory=list)

    def scaled(self, features: pd.DataFrame) -> np.ndarray:
        return self.scaler.transform(features[list(CLUSTER_FEATURES)].to_numpy())

    def assign(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(cluster, segment) per customer: LIFECYCLE_CLUSTER and its lifecycle segment, or the
        K-Means cluster of an active customer and that cluster's name."""
        stage = lifecycle_segments(features)
        clusters = np.full(len(features), LIFECYCLE_CLUSTER, dtype=int)
        active = stage == ""
        if active.any():
            clusters[active] = self.kmeans.predict(self.scaled(features[active]))
        segments = np.where(active, [self.names.get(int(c), "") for c in clusters], stage).astype(object)
        return clusters, segments


def _profiles(features: pd.DataFrame, clusters: np.ndarray) -> pd.DataFrame:
    columns = ["recency_days", "frequency_per_year", "missed_purchases", "monetary_per_year", "avg_basket_eur",
               "median_basket_eur", "customer_tenure_days"]  # fmt: skip
    profiles = features[columns].groupby(clusters).median()
    profiles["customers"] = pd.Series(clusters).value_counts().reindex(profiles.index).to_numpy()
    return profiles


def quality(scaled: np.ndarray, clusters: np.ndarray, seed: int = 42) -> dict[str, float]:
    from sklearn.metrics import davies_bouldin_score, silhouette_score

    if len(np.unique(clusters)) < 2:
        return {"silhouette": float("nan"), "davies_bouldin": float("nan")}
    sample = min(len(scaled), 3000)
    return {
        "silhouette": round(float(silhouette_score(scaled, clusters, sample_size=sample, random_state=seed)), 4),
        "davies_bouldin": round(float(davies_bouldin_score(scaled, clusters)), 4),
    }


def _active(features: pd.DataFrame) -> pd.DataFrame:
    active = features[lifecycle_segments(features) == ""]
    if len(active) < MIN_CUSTOMERS:
        raise ModelInputError(
            MODEL_NAME,
            SOURCE,
            f"has {len(active)} active customers (neither new, at risk nor lost), needs at least {MIN_CUSTOMERS} "
            "to cluster",
        )
    return active


def train(rfm: pd.DataFrame, seed: int = 42, k: int | None = None) -> tuple[SegmentationModel, dict[str, float]]:
    """Lifecycle rules, then scale, choose K (unless given), cluster and name the active customers.
    Returns the model and its quality metrics (silhouette and Davies-Bouldin of the clusters)."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    features = build_features(rfm)
    active = _active(features)
    values = active[list(CLUSTER_FEATURES)].to_numpy()
    scaler = StandardScaler().fit(values)
    scaled = scaler.transform(values)
    choice = choose_k(scaled, seed)
    kmeans = KMeans(n_clusters=k or choice.k, n_init=10, random_state=seed).fit(scaled)
    profiles = _profiles(active, kmeans.labels_)
    names = name_segments(profiles)
    profiles["segment"] = profiles.index.map(names)
    model = SegmentationModel(scaler, kmeans, names, profiles, choice, reference(features, list(FEATURES)))
    _, segments = model.assign(features)
    metrics = {"k": int(kmeans.n_clusters), "elbow_k": choice.elbow, "customers": len(features),
               "active_customers": len(active)}  # fmt: skip
    metrics |= quality(scaled, kmeans.labels_, seed)
    model.profiles = pd.concat(
        [
            profiles,
            pd.DataFrame(
                {"segment": [LOST, AT_RISK, NEW]},
                index=pd.Index([f"rule: {n}" for n in (LOST, AT_RISK, NEW)]),
            ).assign(customers=lambda f: [int((segments == n).sum()) for n in f["segment"]]),
        ]
    )
    return model, metrics


def segment(model: SegmentationModel, rfm: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cluster (LIFECYCLE_CLUSTER for the rule segments), segment and the RFM values behind it."""
    features = build_features(rfm)
    clusters, segments = model.assign(features)
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "cluster": clusters.astype(int),
            "segment": segments,
            "recency_days": features["recency_days"].to_numpy(),
            "frequency": features["frequency"].to_numpy(),
            "monetary_eur": features["monetary_eur"].to_numpy(),
        }
    )


def silhouette_of(model: SegmentationModel, rfm: pd.DataFrame, seed: int = 42) -> float:
    """How well `model` separates the active customers of `rfm` (the registry's comparison on one snapshot)."""
    active = _active(build_features(rfm))
    scaled = model.scaled(active)
    return quality(scaled, model.kmeans.predict(scaled), seed)["silhouette"]


def plots(model: SegmentationModel, rfm: pd.DataFrame) -> dict[str, bytes]:
    """PNG bytes: `elbow_silhouette` (inertia and silhouette per K, the chosen K marked) and
    `pca` (customers on the first two principal components, coloured by segment)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    out: dict[str, bytes] = {}
    choice = model.choice
    ks = sorted(choice.inertia)
    fig, left = plt.subplots(figsize=(8, 4.5), dpi=110)
    left.plot(ks, [choice.inertia[k] for k in ks], "o-", color="#1f77b4", label="inertie (coude)")
    left.set_xlabel("nombre de segments K")
    left.set_ylabel("inertie", color="#1f77b4")
    right = left.twinx()
    right.plot(ks, [choice.silhouette[k] for k in ks], "s--", color="#d62728", label="silhouette")
    right.set_ylabel("silhouette", color="#d62728")
    left.axvline(model.kmeans.n_clusters, color="grey", linestyle=":", label=f"K retenu = {model.kmeans.n_clusters}")
    left.set_title("Choix de K (clients actifs) : méthode du coude et score de silhouette")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out["elbow_silhouette"] = buffer.getvalue()

    from sklearn.preprocessing import StandardScaler

    features = build_features(rfm)
    # Every customer, on all the RFM features (the lifecycle ones included), coloured by segment.
    scaled = StandardScaler().fit_transform(features[list(FEATURES)].to_numpy())
    names = np.asarray(model.assign(features)[1])
    points = PCA(n_components=2, random_state=0).fit(scaled)
    xy = points.transform(scaled)
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    colours = dict(zip(SEGMENTS, ("#9467bd", "#2ca02c", "#ff7f0e", "#17becf", "#1f77b4", "#7f7f7f"), strict=True))
    for name in SEGMENTS:
        chosen = names == name
        if chosen.any():
            ax.scatter(
                xy[chosen, 0], xy[chosen, 1], s=12, alpha=0.7, color=colours[name], label=f"{name} ({chosen.sum()})"
            )
    ratio = points.explained_variance_ratio_
    ax.set_xlabel(f"composante 1 ({ratio[0]:.0%} de la variance)")
    ax.set_ylabel(f"composante 2 ({ratio[1]:.0%} de la variance)")
    ax.set_title(
        f"Segments clients (règles de cycle de vie + K-Means, K = {model.kmeans.n_clusters}) sur 2 composantes (ACP)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out["pca"] = buffer.getvalue()
    return out
