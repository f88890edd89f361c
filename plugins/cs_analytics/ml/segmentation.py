"""Customer segmentation (004): train weekly (registry, with the elbow/silhouette and PCA plots as
artifacts), segment daily with the champion into `ml.customer_segments`."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pandas as pd

from cs_analytics.ml.common import ensure_ml_schema, jsonable, record_training, replace_as_of, run_as_of, write_drift
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

# A new model must separate the customers clearly better to replace the champion: each change
# of model can rename customers' segments, and 004's actions need stable segments.
MIN_SILHOUETTE_GAIN = 0.02


def load_rfm(wh: Warehouse, as_of: date, latest_before: bool = False) -> pd.DataFrame:
    """The `ml_rfm` snapshot as of `as_of` (scoring), or the latest one up to it (training: the
    marts hold month ends and the last day, and a weekly run need not fall on either)."""
    from ml_tasks import segmentation
    from ml_tasks.validation import ModelInputError

    if latest_before:
        found = wh.query("select max(as_of_date) from marts.ml_rfm where as_of_date <= %s", (as_of,))[0][0]
        as_of = found or as_of
    rfm = wh.query_df("select * from marts.ml_rfm where as_of_date = %s order by customer_id", (as_of,))
    if rfm.empty:
        latest = wh.query("select max(as_of_date) from marts.ml_rfm")[0][0]
        raise ModelInputError(
            segmentation.MODEL_NAME, segmentation.SOURCE, f"has no row as of {as_of} (latest: {latest})"
        )
    return rfm


def train(wh: Warehouse, registry, as_of: date, run_id: str | None = None) -> dict[str, Any]:
    from ml_tasks import segmentation

    rfm = load_rfm(wh, as_of, latest_before=True)
    snapshot = pd.Timestamp(rfm["as_of_date"].iloc[0]).date()
    model, metrics = segmentation.train(rfm)
    plots = segmentation.plots(model, rfm)
    decision = registry.register_and_promote(
        segmentation.MODEL_NAME,
        model,
        evaluate=lambda champion: segmentation.silhouette_of(champion, rfm),
        min_improvement=MIN_SILHOUETTE_GAIN,
        metrics={k: float(v) for k, v in metrics.items()},
        primary_metric="silhouette",
        higher_is_better=True,
        features=list(segmentation.FEATURES),
        data_window={"snapshot": snapshot.isoformat()},
        params={"k": model.kmeans.n_clusters, "elbow_k": model.choice.elbow, "k_range": "2..10"},
        artifacts={
            "elbow_silhouette.png": plots["elbow_silhouette"],
            "pca_segments.png": plots["pca"],
            "segment_profiles.csv": model.profiles.to_csv().encode(),
        },
    )
    summary = {
        "version": decision.challenger.version,
        "promoted": decision.promote,
        "decision": decision.reason,
        **metrics,
        "segments": model.profiles.groupby("segment")["customers"].sum().to_dict(),
    }
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        record_training(conn, segmentation.MODEL_NAME, as_of, jsonable(summary), run_id)
    log.info("segmentation trained as of %s: %s", as_of, summary)
    return summary


def score(wh: Warehouse, registry, as_of: date) -> dict[str, Any]:
    from ml_tasks import segmentation
    from ml_tasks.drift import drift_table

    version, model = registry.load_champion(segmentation.MODEL_NAME)
    rfm = load_rfm(wh, as_of)
    segments = segmentation.segment(model, rfm)
    drift = drift_table(model.references, segmentation.build_features(rfm))
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        replace_as_of(
            conn,
            "ml.customer_segments",
            as_of,
            (
                "as_of_date",
                "customer_id",
                "segment",
                "cluster",
                "recency_days",
                "frequency",
                "monetary_eur",
                "model_version",
            ),
            (
                (
                    as_of,
                    r.customer_id,
                    r.segment,
                    int(r.cluster),
                    int(r.recency_days),
                    int(r.frequency),
                    round(float(r.monetary_eur), 2),
                    version.version,
                )
                for r in segments.itertuples()
            ),  # fmt: skip
        )
        drifting = write_drift(conn, segmentation.MODEL_NAME, version.version, as_of, drift)
    result = {
        "model_version": version.version,
        "customers": len(segments),
        "segments": segments["segment"].value_counts().to_dict(),
        "drift_warnings": drifting,
    }
    log.info("segmentation as of %s: %s", as_of, result)
    return result


def train_task(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ml.registry import ModelRegistry

    return train(Warehouse.for_flow("ml"), ModelRegistry.from_env(), run_as_of(context), context.get("run_id"))


def score_task(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ml.registry import ModelRegistry

    return score(Warehouse.for_flow("ml"), ModelRegistry.from_env(), run_as_of(context))
