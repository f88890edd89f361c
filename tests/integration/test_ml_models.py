"""The ML models on the real warehouse of the shared dbt world (tests/integration/dbt_world.py):
training registers versions in a real MLflow registry (a throw-away PostgreSQL database), scoring
writes the `ml` tables, a re-run replaces instead of duplicating, and each model beats its trivial
baseline. Quality against the ground truth is the benchmark's job (benchmarks/ml_quality.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from cs_analytics.ml import anomalies, churn, segmentation
from cs_analytics.ml.registry import ModelRegistry, NoChampionError
from ml_tasks.validation import ModelInputError
from tests.conftest import throwaway_database
from tests.integration.dbt_world import END_DATE, DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


@pytest.fixture(scope="module")
def registry(server_url: str, tmp_path_factory: pytest.TempPathFactory):
    with throwaway_database(server_url, "test_mlflow") as url:
        yield ModelRegistry(
            url.replace("postgresql://", "postgresql+psycopg2://", 1), tmp_path_factory.mktemp("mlruns")
        )


@pytest.fixture(scope="module")
def trained(dbt_world: DbtWorld, registry: ModelRegistry) -> dict:
    wh = dbt_world.warehouse
    wh.execute("drop schema if exists ml cascade")
    return {
        "churn": churn.train(wh, registry, END_DATE, run_id="test"),
        "segmentation": segmentation.train(wh, registry, END_DATE, run_id="test"),
    }


def test_scoring_without_a_champion_says_to_train_first(dbt_world: DbtWorld, registry: ModelRegistry) -> None:
    empty = ModelRegistry(registry.tracking_uri, registry.artifact_root)
    if empty.champion("churn_lightgbm") is None:
        with pytest.raises(NoChampionError, match="churn_lightgbm: no champion .* run the ml_training DAG first"):
            churn.score(dbt_world.warehouse, empty, END_DATE)


def test_training_registers_a_champion_that_beats_the_baseline(trained: dict, registry: ModelRegistry) -> None:
    result = trained["churn"]
    assert result["promoted"] and result["decision"] == "no champion yet"
    assert result["roc_auc"] > result["baselines_roc_auc"]["base_rate"] == 0.5
    champion = registry.champion("churn_lightgbm")
    assert champion.version == result["version"] and champion.primary_metric == "brier"
    assert champion.features[:2] == ["call_trend", "calls_per_month_recent"]
    assert champion.data_window["holdout_to"] <= END_DATE.isoformat() and champion.code_version
    seg = trained["segmentation"]
    assert seg["promoted"] and seg["silhouette"] > 0.15 and set(seg["segments"]) <= {
        "VIP Champions", "Loyal Customers", "At Risk / Dormant", "New Customers", "Potential Loyalists",
        "Lost Customers",
    }  # fmt: skip


def test_a_rerun_of_the_same_training_reuses_its_version_and_decision(dbt_world: DbtWorld, trained, registry) -> None:
    wh = dbt_world.warehouse
    versions = len(registry.client.search_model_versions("name='churn_lightgbm'"))
    again = churn.train(wh, registry, END_DATE, run_id="test rerun")
    # Same data window, data and code: the same version, the first run's decision, no twin version.
    assert again == trained["churn"] and again["promoted"] and again["decision"] == "no champion yet"
    assert len(registry.client.search_model_versions("name='churn_lightgbm'")) == versions
    assert registry.champion("churn_lightgbm").version == trained["churn"]["version"]
    row = wh.query("select metrics from ml.model_runs where model = 'churn_lightgbm' and as_of_date = %s", (END_DATE,))
    assert row[0][0]["version"] == trained["churn"]["version"]


def test_a_challenger_no_better_than_the_champion_is_not_promoted(
    dbt_world: DbtWorld, trained, registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other code on the same data: a new training (a re-run of the same code would reuse the version).
    monkeypatch.setenv("CODE_VERSION", "a-later-commit")
    again = segmentation.train(dbt_world.warehouse, registry, END_DATE)
    # The same data gives the same clusters: not better by the required margin.
    assert again["version"] != trained["segmentation"]["version"]
    assert not again["promoted"] and "not better" in again["decision"]
    assert registry.champion("segmentation_kmeans").version == trained["segmentation"]["version"]


def test_scores_are_written_and_a_rerun_replaces_them(dbt_world: DbtWorld, trained, registry) -> None:
    wh = dbt_world.warehouse
    first = churn.score(wh, registry, END_DATE)
    segmentation.score(wh, registry, END_DATE)
    anomalies.score(wh, END_DATE)
    counts = """
        select (select count(*) from ml.churn_scores where as_of_date = %(d)s),
               (select count(*) from ml.retention_campaign where as_of_date = %(d)s),
               (select count(*) from ml.customer_segments where as_of_date = %(d)s),
               (select count(*) from ml.anomalies),
               (select count(*) from ml.feature_drift where as_of_date = %(d)s)
    """
    before = wh.query(counts, {"d": END_DATE})[0]
    churn.score(wh, registry, END_DATE)
    segmentation.score(wh, registry, END_DATE)
    anomalies.score(wh, END_DATE)
    assert wh.query(counts, {"d": END_DATE})[0] == before
    scored, campaign, segmented, found, drift = before
    customers = wh.query("select count(*) from marts.ml_customer_features where as_of_date = %s", (END_DATE,))[0][0]
    assert scored == customers == first["customers_scored"] > 0
    assert campaign == wh.query("select count(*) from ml.churn_scores where score > 50 and as_of_date = %s",
                                (END_DATE,))[0][0]  # fmt: skip
    assert segmented > 0 and found > 0 and drift > 0
    rows = wh.query_df("select * from ml.churn_scores where as_of_date = %s order by score desc", (END_DATE,))
    top = rows.iloc[0]
    assert 1 <= len(top["reasons"]) <= 3 and all(isinstance(r, str) and r for r in top["reasons"])
    assert set(rows["band"]) <= {"faible", "moyen", "élevé"}
    kinds = set(wh.query_df("select kind from ml.anomalies")["kind"])
    assert kinds & {"erp_duplicate", "erp_night_weekend", "erp_abnormal_amount", "erp_credit_without_invoice"}


def test_planted_erp_anomalies_are_found_beyond_chance(dbt_world: DbtWorld, trained) -> None:
    truth = pd.read_csv(dbt_world.truth_dir / "anomalies.csv")
    planted = set(truth.loc[truth["kind"].str.startswith("erp_"), "reference"])
    found = dbt_world.warehouse.query_df("select kind, reference from ml.anomalies where entity = 'document'")
    hits = planted & set(found["reference"])
    # A detector flagging documents at random would find a handful; this one finds most of them.
    assert len(hits) >= 0.7 * len(planted) and len(hits) >= 0.6 * len(found)


def test_an_as_of_day_without_snapshot_fails_and_writes_nothing(dbt_world: DbtWorld, trained, registry) -> None:
    wh = dbt_world.warehouse
    before = wh.query("select count(*) from ml.churn_scores")[0][0]
    with pytest.raises(
        ModelInputError, match=r"churn_lightgbm: input marts.ml_customer_features has no snapshot as of 2020-01-01"
    ):
        churn.score(wh, registry, date(2020, 1, 1))
    assert wh.query("select count(*) from ml.churn_scores")[0][0] == before
