"""Churn risk: train weekly (registry), score daily with the champion into `ml.churn_scores` and
`ml.retention_campaign`, drift of every feature into `ml.feature_drift`."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import pandas as pd

from cs_analytics.ml.common import ensure_ml_schema, jsonable, record_training, replace_as_of, run_as_of, write_drift
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

CAMPAIGN_ACTIONS = {
    "élevé": "alerte Claire + e-mail personnalisé au client + campagne de rétention",
    "moyen": "campagne de rétention (offre spéciale)",
}


def pg_array(values: list[str]) -> str:
    """A text[] literal (COPY then escapes it once more)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def load_snapshots(wh: Warehouse, as_of: date) -> pd.DataFrame:
    """Every customer snapshot of `marts.ml_customer_features` up to `as_of` (training history + scoring set)."""
    return wh.query_df(
        "select * from marts.ml_customer_features where as_of_date <= %s order by as_of_date, customer_id", (as_of,)
    )


def train(wh: Warehouse, registry, as_of: date, run_id: str | None = None) -> dict[str, Any]:
    """Fit on the labelled snapshots, register the version, promote it if it beats the champion on
    the same holdout (Brier score: calibration and ranking together)."""
    from ml_tasks import churn

    snapshots = load_snapshots(wh, as_of)
    training = churn.train(snapshots)
    holdout_rows = snapshots.loc[training.holdout_index]
    production = training.metrics[churn.MODEL_NAME]
    # The registered model is refit on the holdout months too, as the champion was on most of
    # them: both are compared on the holdout the same way (`brier`); the out-of-sample figures
    # of the holdout fit are kept beside them (`holdout_fit_*`).
    compared = churn.evaluate(training.model, holdout_rows)
    decision = registry.register_and_promote(
        churn.MODEL_NAME,
        training.model,
        evaluate=lambda champion: churn.evaluate(champion, holdout_rows)["brier"],
        metrics={k: v for k, v in compared.items() if isinstance(v, float | int)}
        | {f"holdout_fit_{k}": v for k, v in production.items() if isinstance(v, float | int)},
        primary_metric="brier",
        higher_is_better=False,
        features=training.model.features,
        data_window=training.window,
        params={"holdout_months": 4, "calibration": "platt_out_of_fold", "monotone": True, "refit_on_holdout": True},
        artifacts={
            "holdout_metrics.json": pd.Series(training.metrics).to_json(force_ascii=False).encode(),
            "holdout_predictions.csv": training.holdout.to_csv(index=False).encode(),
        },
    )
    summary = {
        "version": decision.challenger.version,
        "promoted": decision.promote,
        "decision": decision.reason,
        **{k: production[k] for k in ("roc_auc", "pr_auc", "brier", "calibration_error", "positives", "rows")},
        "baselines_roc_auc": {name: m["roc_auc"] for name, m in training.metrics.items() if name != churn.MODEL_NAME},
        **training.window,
    }
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        record_training(conn, churn.MODEL_NAME, as_of, jsonable(summary), run_id)
    log.info("churn trained as of %s: %s", as_of, summary)
    return summary


def score(wh: Warehouse, registry, as_of: date) -> dict[str, Any]:
    """Score the as-of day's customers with the champion; replace the day's scores and campaign list."""
    from ml_tasks import churn
    from ml_tasks.drift import drift_table
    from ml_tasks.validation import ModelInputError

    version, model = registry.load_champion(churn.MODEL_NAME)
    snapshots = wh.query_df("select * from marts.ml_customer_features where as_of_date = %s", (as_of,))
    if snapshots.empty:
        latest = wh.query("select max(as_of_date) from marts.ml_customer_features")[0][0]
        raise ModelInputError(churn.MODEL_NAME, churn.SOURCE, f"has no snapshot as of {as_of} (latest: {latest})")
    scores = churn.score(model, snapshots)
    drift = drift_table(model.references, churn.scoring_features(model, snapshots))
    campaign = scores[scores["score"] > churn.CAMPAIGN_SCORE]
    ensure_ml_schema(wh)
    with wh.transaction() as conn:
        replace_as_of(
            conn,
            "ml.churn_scores",
            as_of,
            (
                "as_of_date",
                "customer_id",
                "score",
                "probability",
                "band",
                "reasons",
                "reason_features",
                "model_version",
            ),
            (
                (
                    as_of,
                    r.customer_id,
                    int(r.score),
                    float(r.probability),
                    r.band,
                    pg_array(r.reasons),
                    pg_array(r.reason_features),
                    version.version,
                )
                for r in scores.itertuples()
            ),  # fmt: skip
        )
        replace_as_of(
            conn,
            "ml.retention_campaign",
            as_of,
            ("as_of_date", "customer_id", "score", "band", "action", "reasons", "model_version"),
            (
                (
                    as_of,
                    r.customer_id,
                    int(r.score),
                    r.band,
                    CAMPAIGN_ACTIONS[r.band],
                    pg_array(r.reasons),
                    version.version,
                )
                for r in campaign.itertuples()
            ),
        )
        drifting = write_drift(conn, churn.MODEL_NAME, version.version, as_of, drift)
    result = {
        "model_version": version.version,
        "customers_scored": len(scores),
        "retention_campaign": len(campaign),
        "alert_band": int((scores["band"] == churn.BAND_HIGH).sum()),
        "drift_warnings": drifting,
    }
    log.info("churn scored as of %s: %s", as_of, result)
    return result


def train_task(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ml.registry import ModelRegistry

    return train(Warehouse.for_flow("ml"), ModelRegistry.from_env(), run_as_of(context), context.get("run_id"))


def score_task(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ml.registry import ModelRegistry

    return score(Warehouse.for_flow("ml"), ModelRegistry.from_env(), run_as_of(context))
