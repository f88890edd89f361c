"""Model registry: every training run is a versioned model; scoring always uses the champion.

Backed by MLflow (tracking + model registry): runs, metrics and the registered versions live in
the PostgreSQL database named by `MLFLOW_TRACKING_URI` (locally the `mlflow` database of the
embedded cluster), artifacts (the pickled model, plots, JSON) in `MLFLOW_ARTIFACT_ROOT` (locally
`.local/mlflow/artifacts`, git-ignored). MLflow is imported inside these functions only, so DAG
files stay fast to parse.

What a version records: its metrics on the holdout, the primary metric and its direction, the
feature list, the data window (train_from/train_to/holdout_from/holdout_to), the code version (git
sha, tag `mlflow.source.git.commit`), the parameters, and the model object (`model/model.joblib`).
The champion is the version holding the registered model's alias `champion`.

A re-run is not a new training: a version carries a run key, a hash of what determines the fitted
model (model name, data window, code version, parameters, features, and the holdout metrics, which
stand in for the data: the same window with rows added or changed scores differently). Registering
a run whose key is already registered returns that version, and `register_and_promote` returns the
decision recorded the first time (stored on the version) without comparing or promoting again: a
re-run of last week's interval cannot take the champion back, nor register a twin version.

Usage, for any model (the churn, segmentation, forecast and routing models all follow it):

    from cs_analytics.ml.registry import ModelRegistry

    registry = ModelRegistry.from_env()
    version = registry.register_run(
        "churn_lightgbm", fitted_model,
        metrics={"roc_auc": 0.83, "brier": 0.061}, primary_metric="brier", higher_is_better=False,
        features=["call_trend", ...], data_window={"train_from": "2025-01-31", ..., "holdout_to": "2026-05-31"},
        params={"n_estimators": 250}, artifacts={"holdout.csv": csv_bytes},
    )
    # The challenger replaces the champion only if better on the same holdout: `evaluate` scores a
    # model object on the challenger's holdout and returns the primary metric.
    decision = registry.compare_with_champion(version, evaluate=lambda model: brier_on(holdout, model))
    if decision.promote:
        registry.promote(version, decision.reason)
    champion_version, champion_model = registry.load_champion("churn_lightgbm")   # scoring

`register_and_promote(...)` does the three steps at once and returns the Decision.
`min_improvement` (absolute, in the metric's unit) makes a challenger win only by that margin,
e.g. to keep segment labels stable from week to week.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cs_analytics.config import PROJECT_ROOT

log = logging.getLogger(__name__)

CHAMPION = "champion"
EXPERIMENT_PREFIX = "cs_analytics/"
MODEL_FILE = "model.joblib"
DECISION_TAG = "decision"  # the champion/challenger decision of the run that registered the version


class NoChampionError(LookupError):
    """No version of the model has been promoted yet."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    metrics: dict[str, float]
    primary_metric: str
    higher_is_better: bool
    features: list[str] = field(default_factory=list)
    data_window: dict[str, str] = field(default_factory=dict)
    code_version: str = ""
    reused: bool = False  # the version an earlier run registered with the same run key

    @property
    def holdout_value(self) -> float:
        return self.metrics[self.primary_metric]


@dataclass(frozen=True)
class Decision:
    promote: bool
    challenger: ModelVersion
    challenger_value: float
    champion_version: int | None
    champion_value: float | None
    reason: str


def code_version() -> str:
    """The git commit of the code that trains (CODE_VERSION wins, e.g. in an image without .git)."""
    if os.environ.get("CODE_VERSION"):
        return os.environ["CODE_VERSION"]
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        sha = out.stdout.strip()
        if out.returncode == 0 and sha:
            dirty = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True, text=True, timeout=10,
            ).stdout.strip()  # fmt: skip
            return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def run_key(
    name: str,
    data_window: dict[str, str],
    sha: str,
    params: dict[str, Any] | None,
    features: list[str],
    metrics: dict[str, float],
) -> str:
    """What identifies a training: same key, same fitted model (training is seeded)."""
    identity = {
        "model": name, "data_window": data_window, "code_version": sha, "features": list(features),
        "params": {k: str(v) for k, v in (params or {}).items()},
        "metrics": {k: repr(float(v)) for k, v in metrics.items() if isinstance(v, int | float)},
    }  # fmt: skip
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _better(challenger: float, champion: float, higher_is_better: bool, margin: float) -> bool:
    return challenger >= champion + margin if higher_is_better else challenger <= champion - margin


class ModelRegistry:
    def __init__(self, tracking_uri: str, artifact_root: str | Path) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._loaded: dict[tuple[str, int], Any] = {}

    @classmethod
    def from_env(cls) -> ModelRegistry:
        from cs_analytics.config import MlSettings

        settings = MlSettings.from_env()
        return cls(settings.tracking_uri, settings.artifact_root)

    # ------------------------------------------------------------------ runs and versions
    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(EXPERIMENT_PREFIX + name)
        if experiment is not None:
            return experiment.experiment_id
        location = (self.artifact_root / name).resolve()
        location.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(EXPERIMENT_PREFIX + name, artifact_location=location.as_uri())

    def register_run(
        self,
        name: str,
        model: Any,
        *,
        metrics: dict[str, float],
        primary_metric: str,
        higher_is_better: bool,
        features: list[str],
        data_window: dict[str, str],
        params: dict[str, Any] | None = None,
        artifacts: dict[str, bytes] | None = None,
    ) -> ModelVersion:
        """Record a training run and register its model as a new version (not yet champion), or
        return the version already registered for the same run key (a re-run)."""
        import joblib
        from mlflow.exceptions import MlflowException

        value = metrics.get(primary_metric)
        if value is None or not math.isfinite(value):
            raise ValueError(f"{name}: primary metric {primary_metric!r} missing or not finite in {metrics}")
        sha = code_version()
        this_key = run_key(name, data_window, sha, params, features, metrics)

        def version_of(number: int, run_id: str, reused: bool) -> ModelVersion:
            return ModelVersion(
                name=name,
                version=number,
                run_id=run_id,
                metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
                primary_metric=primary_metric,
                higher_is_better=higher_is_better,
                features=list(features),
                data_window=dict(data_window),
                code_version=sha,
                reused=reused,
            )

        earlier = next(
            (mv for mv in self.client.search_model_versions(f"name='{name}'") if mv.tags.get("run_key") == this_key),
            None,
        )
        if earlier is not None:
            self._loaded[(name, int(earlier.version))] = model
            log.info("%s: a re-run of version %s (same run key), not registered again", name, earlier.version)
            return version_of(int(earlier.version), earlier.run_id, reused=True)
        run = self.client.create_run(
            self._experiment_id(name),
            run_name=f"{name} {data_window.get('holdout_to', '')}".strip(),
            tags={
                "mlflow.source.git.commit": sha,
                "code_version": sha,
                "data_window": json.dumps(data_window),
                "primary_metric": primary_metric,
                "higher_is_better": str(higher_is_better),
                "run_key": this_key,
            },
        )
        run_id = run.info.run_id
        try:
            for key, val in (params or {}).items():
                self.client.log_param(run_id, key, str(val)[:6000])
            self.client.log_param(run_id, "feature_count", len(features))
            for key, val in metrics.items():
                if isinstance(val, int | float) and math.isfinite(val):
                    self.client.log_metric(run_id, key, float(val))
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = Path(tmp) / "model"
                model_dir.mkdir()
                joblib.dump(model, model_dir / MODEL_FILE)
                self.client.log_artifacts(run_id, str(model_dir), "model")
                extra = Path(tmp) / "extra"
                extra.mkdir()
                (extra / "features.json").write_text(json.dumps(features, indent=1))
                (extra / "data_window.json").write_text(json.dumps(data_window, indent=1))
                for file_name, content in (artifacts or {}).items():
                    (extra / file_name).write_bytes(content)
                self.client.log_artifacts(run_id, str(extra))
            self.client.set_terminated(run_id)
        except Exception:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        mv = self.client.create_model_version(
            name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags={
                "primary_metric": primary_metric,
                "holdout_value": repr(value),
                "code_version": sha,
                "run_key": this_key,
            },
        )
        version = version_of(int(mv.version), run_id, reused=False)
        self._loaded[(name, version.version)] = model
        log.info("registered %s version %d (%s = %.5f, run %s)", name, version.version, primary_metric, value, run_id)
        return version

    def _version(self, name: str, mv) -> ModelVersion:
        run = self.client.get_run(mv.run_id)
        tags = run.data.tags
        features_path = self.client.download_artifacts(mv.run_id, "features.json", tempfile.mkdtemp())
        return ModelVersion(
            name=name,
            version=int(mv.version),
            run_id=mv.run_id,
            metrics=dict(run.data.metrics),
            primary_metric=tags.get("primary_metric", ""),
            higher_is_better=tags.get("higher_is_better") == "True",
            features=json.loads(Path(features_path).read_text()),
            data_window=json.loads(tags.get("data_window", "{}")),
            code_version=tags.get("code_version", ""),
        )

    def champion(self, name: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            return None
        return self._version(name, mv)

    def load(self, version: ModelVersion) -> Any:
        import joblib

        key = (version.name, version.version)
        if key not in self._loaded:
            with tempfile.TemporaryDirectory() as tmp:
                local = self.client.download_artifacts(version.run_id, "model", tmp)
                self._loaded[key] = joblib.load(Path(local) / MODEL_FILE)
        return self._loaded[key]

    def load_champion(self, name: str) -> tuple[ModelVersion, Any]:
        version = self.champion(name)
        if version is None:
            raise NoChampionError(
                f"{name}: no champion in the model registry ({self.tracking_uri.split('@')[-1]}); "
                "run the ml_training DAG first"
            )
        return version, self.load(version)

    # ------------------------------------------------------------------ champion / challenger
    def compare_with_champion(
        self, challenger: ModelVersion, evaluate: Callable[[Any], float], min_improvement: float = 0.0
    ) -> Decision:
        """Score the current champion with `evaluate` on the challenger's holdout and decide."""
        value = challenger.holdout_value
        current = self.champion(challenger.name)
        if current is None:
            return Decision(True, challenger, value, None, None, "no champion yet")
        if current.version == challenger.version:
            return Decision(False, challenger, value, current.version, value, "already the champion")
        try:
            champion_value = float(evaluate(self.load(current)))
        except Exception as exc:  # a champion that cannot score today's holdout is replaced
            log.warning(
                "%s: champion v%d cannot be evaluated on the new holdout: %s", challenger.name, current.version, exc
            )
            return Decision(True, challenger, value, current.version, None, f"champion not evaluable: {exc}")
        wins = _better(value, champion_value, challenger.higher_is_better, min_improvement)
        word = "better" if wins else "not better"
        reason = (
            f"{challenger.primary_metric} {value:.5f} vs champion v{current.version} {champion_value:.5f} "
            f"on the same holdout: {word}" + (f" (by at least {min_improvement})" if min_improvement else "")
        )
        return Decision(wins, challenger, value, current.version, champion_value, reason)

    def promote(self, version: ModelVersion, reason: str = "") -> None:
        previous = self.champion(version.name)
        self.client.set_registered_model_alias(version.name, CHAMPION, str(version.version))
        self.client.set_model_version_tag(version.name, str(version.version), "promotion_reason", reason)
        if previous is not None and previous.version != version.version:
            self.client.set_model_version_tag(version.name, str(previous.version), "replaced_by", str(version.version))
        log.info("%s: version %d is the champion (%s)", version.name, version.version, reason)

    def register_and_promote(
        self,
        name: str,
        model: Any,
        evaluate: Callable[[Any], float],
        min_improvement: float = 0.0,
        **run: Any,
    ) -> Decision:
        version = self.register_run(name, model, **run)
        if version.reused:
            recorded = self.client.get_model_version(name, str(version.version)).tags.get(DECISION_TAG)
            if recorded:  # else the first run stopped before deciding: decide now
                return Decision(challenger=version, **json.loads(recorded))
        decision = self.compare_with_champion(version, evaluate, min_improvement)
        if decision.promote:
            self.promote(version, decision.reason)
        else:
            self.client.set_model_version_tag(name, str(version.version), "not_promoted", decision.reason)
        fields = ("promote", "challenger_value", "champion_version", "champion_value", "reason")
        record = json.dumps({f: getattr(decision, f) for f in fields})
        self.client.set_model_version_tag(name, str(version.version), DECISION_TAG, record)
        return decision
