"""Customer segmentation (004): RFM + K-Means, segments named automatically from their profiles.

Input: one snapshot of `marts.ml_rfm` (customers with at least one invoice as of a date):
recency, frequency, monetary, average basket, tenure since the first purchase, number of product
categories, and the customer's tenure since it signed up.

- `build_features` puts them on the scales K-Means can compare: logs of the skewed amounts and
  durations, frequency as invoices per year while the customer buys, the purchases that rhythm
  says it has skipped since its last one (a rare buyer silent for 4 months is not dormant; a
  monthly one is), then standard scaling.
- `choose_k` computes inertia (elbow) and silhouette for K = 2..10; K is the elbow of the inertia
  curve unless a larger K up to 10 separates better (higher silhouette), as 004 reads the two curves.
- `name_segments` names each cluster from its median profile, in business units: clusters of
  customers silent for more than a year are "Lost Customers", for more than `AT_RISK_DAYS` and
  `MISSED_AT_RISK` purchases of their own rhythm "At Risk / Dormant"; recent sign-ups are "New Customers"; the active ones rank by value: the clearly
  richest "VIP Champions", then "Loyal Customers", the least frequent "Potential Loyalists".
  Several clusters may share a name: the six names are what the business acts on.
- Quality: silhouette and Davies-Bouldin of the clusters; `plots` draws the elbow/silhouette curves
  and the customers on the first two principal components.
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
)
FEATURES = (
    "log_recency",
    "log_frequency_per_year",
    "log_missed_purchases",
    "log_avg_basket",
    "log_customer_tenure",
    "category_count",
)
MISSED_AT_RISK = 3.0  # purchases the customer's own rhythm says it should have made since its last one


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
            "log_customer_tenure": np.log1p(r["customer_tenure_days"].astype(float).fillna(0).clip(lower=0)),
            "category_count": r["category_count"].astype(float).fillna(0),
            "recency_days": recency,
            "frequency": r["frequency"].astype(float),
            "monetary_eur": r["monetary_eur"].astype(float),
            "avg_basket_eur": r["avg_basket_eur"].astype(float),
            "customer_tenure_days": r["customer_tenure_days"].astype(float),
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


def name_segments(profiles: pd.DataFrame) -> dict[int, str]:
    """A segment name per cluster from its median profile (columns recency_days, customer_tenure_days,
    frequency_per_year, monetary_per_year; `share` optional, index = cluster)."""
    names: dict[int, str] = {}
    active = []
    for cluster, p in profiles.iterrows():
        if p["recency_days"] > LOST_DAYS:
            names[cluster] = LOST
        elif p["recency_days"] > AT_RISK_DAYS and p.get("missed_purchases", MISSED_AT_RISK) >= MISSED_AT_RISK:
            names[cluster] = AT_RISK
        elif p["customer_tenure_days"] < NEW_DAYS:
            names[cluster] = NEW
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
            # the least frequent active buyers are the ones to grow
            threshold = np.sqrt(frequency[rest].max() * frequency[rest].min())
            for cluster in rest:
                if frequency[cluster] < threshold:
                    names[cluster] = POTENTIAL
    return names


@dataclass
class SegmentationModel:
    scaler: object  # sklearn StandardScaler
    kmeans: object  # sklearn KMeans
    names: dict[int, str]
    profiles: pd.DataFrame  # median profile per cluster (business units) and its name
    choice: KChoice
    references: list[FeatureReference] = field(default_factory=list)

    def assign(self, features: pd.DataFrame) -> np.ndarray:
        return self.kmeans.predict(self.scaler.transform(features[list(FEATURES)].to_numpy()))


def _profiles(features: pd.DataFrame, clusters: np.ndarray) -> pd.DataFrame:
    columns = ["recency_days", "frequency_per_year", "missed_purchases", "monetary_per_year", "avg_basket_eur",
               "customer_tenure_days"]  # fmt: skip
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


def train(rfm: pd.DataFrame, seed: int = 42, k: int | None = None) -> tuple[SegmentationModel, dict[str, float]]:
    """Scale, choose K (unless given), cluster, name. Returns the model and its quality metrics."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    features = build_features(rfm)
    scaler = StandardScaler().fit(features[list(FEATURES)].to_numpy())
    scaled = scaler.transform(features[list(FEATURES)].to_numpy())
    choice = choose_k(scaled, seed)
    kmeans = KMeans(n_clusters=k or choice.k, n_init=10, random_state=seed).fit(scaled)
    profiles = _profiles(features, kmeans.labels_)
    names = name_segments(profiles)
    profiles["segment"] = profiles.index.map(names)
    model = SegmentationModel(scaler, kmeans, names, profiles, choice, reference(features, list(FEATURES)))
    metrics = {"k": int(kmeans.n_clusters), "elbow_k": choice.elbow, "customers": len(features)}
    metrics |= quality(scaled, kmeans.labels_, seed)
    return model, metrics


def segment(model: SegmentationModel, rfm: pd.DataFrame) -> pd.DataFrame:
    """customer_id, cluster, segment and the RFM values behind it."""
    features = build_features(rfm)
    clusters = model.assign(features)
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "cluster": clusters.astype(int),
            "segment": [model.names[c] for c in clusters],
            "recency_days": features["recency_days"].to_numpy(),
            "frequency": features["frequency"].to_numpy(),
            "monetary_eur": features["monetary_eur"].to_numpy(),
        }
    )


def silhouette_of(model: SegmentationModel, rfm: pd.DataFrame, seed: int = 42) -> float:
    """How well `model` separates the customers of `rfm` (the registry's comparison on one snapshot)."""
    features = build_features(rfm)
    scaled = model.scaler.transform(features[list(FEATURES)].to_numpy())
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
    left.set_title("Choix de K : méthode du coude et score de silhouette")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out["elbow_silhouette"] = buffer.getvalue()

    features = build_features(rfm)
    scaled = model.scaler.transform(features[list(FEATURES)].to_numpy())
    names = np.array([model.names[c] for c in model.kmeans.predict(scaled)])
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
    ax.set_title(f"Segments clients (K-Means, K = {model.kmeans.n_clusters}) projetés sur 2 composantes (ACP)")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    out["pca"] = buffer.getvalue()
    return out
