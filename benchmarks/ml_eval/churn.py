"""Churn risk against the simulator's true 180-day churn probability, on a panel: every month end
of the last year of the history, every customer active then (GROUND_TRUTH_DIR/churn_panel.csv).

Rolling origin, as production would have run: at each month end T the models are trained with
the production procedure (`ml_tasks.churn.train`) on the snapshots whose 180-day outcome was
known at T (as-of + 180 <= T), then score the customers as of T. Their probabilities are
compared with what happened (the simulator's outcome, known beyond the warehouse's end) and with
the oracle: the true probabilities, scored on the same customers and dates.
Targets (issue 11): ROC-AUC >= 0.95 x the oracle's, Brier <= 1.10 x the oracle's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ml_quality import EvalContext, measure

MONTHS = 12


def evaluate(ctx: EvalContext) -> list[dict]:
    from ml_tasks import churn

    snapshots = ctx.warehouse.query_df("select * from marts.ml_customer_features order by as_of_date, customer_id")
    snapshots["as_of_date"] = pd.to_datetime(snapshots["as_of_date"])
    # The label a model may learn from at T: known only once as-of + 180 days <= T.
    outcome = snapshots[churn.LABEL]
    truth = ctx.truth("churn_panel.csv", parse_dates=["as_of_date"])
    truth = truth.drop(columns=["customer_id"]).rename(columns={"erp_code": "customer_id"})
    end = pd.Timestamp(ctx.end_date)
    month_ends = sorted(d for d in snapshots["as_of_date"].unique() if end - pd.Timedelta(days=365) < d <= end
                        and d.is_month_end)  # fmt: skip
    step = 1 if ctx.scale <= 1 else 3  # retrain every month at scale 1, every quarter at scale 10 (time)
    panels, train_seconds, score_seconds, peak = [], [], [], 0.0
    model = baselines = None
    for i, origin in enumerate(month_ends[-MONTHS:]):
        if model is None or i % step == 0:
            known = snapshots[snapshots["as_of_date"] <= origin].copy()
            known[churn.LABEL] = outcome.where(known["as_of_date"] + pd.Timedelta(days=churn.HORIZON_DAYS) <= origin)
            training, seconds, mb = measure(lambda known=known: churn.train(known))
            model, baselines = training.model, training.baselines
            train_seconds.append(seconds)
            peak = max(peak, mb)
        scoring = snapshots[snapshots["as_of_date"] == origin]
        scored, seconds, mb = measure(lambda scoring=scoring, model=model: churn.score(model, scoring))
        score_seconds.append(seconds)
        peak = max(peak, mb)
        features = churn.build_features(scoring, model.satisfaction_prior)
        panel = scored[["customer_id", "probability"]].assign(as_of_date=origin)
        for name, fitted in baselines.items():
            panel[name] = churn.baseline_proba(name, fitted, features)
        panels.append(panel)
    panel = pd.concat(panels).merge(truth, on=["as_of_date", "customer_id"], how="inner")
    y = panel["churned_within_180d"].astype(int).to_numpy()
    production = churn.metrics(y, panel["probability"].to_numpy())
    oracle = churn.metrics(y, panel["churn_prob_180d"].to_numpy())
    base = {name: churn.metrics(y, panel[name].to_numpy()) for name in baselines}
    base["base_rate"] = churn.metrics(y, np.full(len(y), y.mean()))
    note = (
        f"{len(panel)} customer-months over {panel['as_of_date'].nunique()} month ends, {int(y.sum())} left within "
        f"180 days; retrained every {step} month(s) on outcomes known at each month end"
    )
    common = {"train_seconds": float(np.mean(train_seconds)), "score_seconds": float(np.mean(score_seconds)),
              "peak_mb": peak, "scale": ctx.scale}  # fmt: skip
    rows = []
    auc_target = 0.95 * oracle["roc_auc"]
    rows.append(dict(model="churn_lightgbm", metric="roc_auc", value=production["roc_auc"], oracle=oracle["roc_auc"],
                     baselines={k: v["roc_auc"] for k, v in base.items()},
                     target=f">= {auc_target:.3f} (0.95x oracle)", met=production["roc_auc"] >= auc_target,
                     note=note, **common))  # fmt: skip
    brier_target = 1.10 * oracle["brier"]
    rows.append(dict(model="churn_lightgbm", metric="brier", value=production["brier"], oracle=oracle["brier"],
                     baselines={k: v["brier"] for k, v in base.items()},
                     target=f"<= {brier_target:.4f} (1.10x oracle)", met=production["brier"] <= brier_target,
                     **common))  # fmt: skip
    for metric in ("pr_auc", "calibration_error"):
        rows.append(dict(model="churn_lightgbm", metric=metric, value=production[metric], oracle=oracle[metric],
                         baselines={k: v[metric] for k, v in base.items()}, target="(reported)", met=None,
                         **common))  # fmt: skip
    return rows
