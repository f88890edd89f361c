"""Evaluation modules of benchmarks/ml_quality.py: each exposes `evaluate(ctx) -> list[dict]`
(keys: model, metric, value, oracle, baselines, target, met, train_seconds, score_seconds,
peak_mb, scale, note). The driver runs every module of this package."""
