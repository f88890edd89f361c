"""benchmarks/scale_stages.py's pure helpers: the task spans read from an `airflow dags test` log,
the transform's dbt / quality gate split, the memory peak inside windows, the reports a daily run
triggers, and the ratios."""

from __future__ import annotations

from datetime import datetime

from benchmarks.scale_stages import (
    daily_vs_full,
    dbt_node_seconds,
    history_doubling,
    peak_in,
    reports_due,
    task_spans,
    transform_parts,
)
from scripts.demo import PARIS

LOG = """\
2026-12-02T10:00:00.000000Z [info     ] [DAG TEST] starting task_id=as_of [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T10:00:01.000000Z [info     ] [DAG TEST] end task task_id=as_of [airflow.sdk.definitions.dag] loc=dag.py:1563
2026-12-02T10:00:01.500000Z [info     ] [DAG TEST] starting task_id=quality_gate_sources [airflow.sdk.definitions.dag]
2026-12-02T10:00:05.500000Z [info     ] [DAG TEST] end task task_id=quality_gate_sources [airflow.sdk.definitions.dag]
2026-12-02T10:00:06.000000Z [info     ] [DAG TEST] starting task_id=dbt.dbt_producer_watcher [airflow.sdk.definitions.dag]
2026-12-02T10:00:20.000000Z [info     ] 10:00:20  2 of 636 OK created sql view model staging.stg_a ........ [\x1b[32mCREATE VIEW\x1b[0m in 0.47s] [cosmos]
2026-12-02T10:00:30.000000Z [info     ] 10:00:30  9 of 636 OK created sql table model marts_build.fct_emails .... [\x1b[32mSELECT 13666\x1b[0m in 32.76s] [cosmos]
2026-12-02T10:00:31.000000Z [info     ] 10:00:31  7 of 636 PASS not_null_fct_calls_call_id .............................. [\x1b[32mPASS\x1b[0m in 1.17s] [cosmos]
2026-12-02T10:00:36.000000Z [info     ] [DAG TEST] end task task_id=dbt.dbt_producer_watcher [airflow.sdk.definitions.dag]
2026-12-02T10:00:36.100000Z [info     ] [DAG TEST] starting task_id=dbt.fct_calls.run map_index=0 [airflow.sdk.definitions.dag]
2026-12-02T10:00:37.000000Z [info     ] [DAG TEST] end task task_id=dbt.fct_calls.run map_index=0 [airflow.sdk.definitions.dag]
2026-12-02T10:00:37.000000Z [info     ] [DAG TEST] starting task_id=dbt.fct_calls.run map_index=1 [airflow.sdk.definitions.dag]
2026-12-02T10:00:46.000000Z [info     ] [DAG TEST] end task task_id=dbt.fct_calls.run map_index=1 [airflow.sdk.definitions.dag]
2026-12-02T10:00:46.000000Z [info     ] [DAG TEST] starting task_id=quality_gate_marts [airflow.sdk.definitions.dag]
2026-12-02T10:00:52.000000Z [info     ] [DAG TEST] end task task_id=quality_gate_marts [airflow.sdk.definitions.dag]
2026-12-02T10:00:52.000000Z [info     ] [DAG TEST] starting task_id=publish_marts [airflow.sdk.definitions.dag]
"""
T0 = datetime.fromisoformat("2026-12-02T10:00:00+00:00").timestamp()


def test_spans_take_first_start_and_last_end_and_skip_unfinished_tasks():
    spans = task_spans(LOG.splitlines())
    assert spans["as_of"] == (T0, T0 + 1)
    assert spans["dbt.fct_calls.run"] == (T0 + 36.1, T0 + 46)  # two mapped instances, one span
    assert "publish_marts" not in spans  # started, never ended


def test_transform_splits_into_the_dbt_group_span_and_the_two_gate_tasks():
    parts = transform_parts(task_spans(LOG.splitlines()))
    assert parts["dbt"] == [(T0 + 6, T0 + 46)]
    assert parts["quality gate"] == [(T0 + 1.5, T0 + 5.5), (T0 + 46, T0 + 52)]
    assert transform_parts({}) == {"dbt": [], "quality gate": []}


def test_slowest_dbt_nodes_come_from_dbts_own_result_lines():
    assert dbt_node_seconds(LOG.splitlines(), top=2) == [
        ("marts_build.fct_emails", 32.76),
        ("not_null_fct_calls_call_id", 1.17),
    ]


def test_peak_counts_only_samples_inside_a_window():
    samples = [(1.0, 100.0), (2.0, 900.0), (3.0, 300.0), (5.0, 400.0)]
    assert peak_in(samples, [(2.5, 3.5), (4.5, 6.0)]) == 400.0
    assert peak_in(samples, [(10.0, 11.0)]) is None


def test_a_daily_run_triggers_the_daily_report_and_the_periodic_ones_due_that_morning():
    tuesday = datetime(2026, 12, 2, tzinfo=PARIS)
    assert [dag for dag, _ in reports_due(tuesday)] == ["report_daily"]
    monday_first = datetime(2026, 6, 1, tzinfo=PARIS)  # a Monday, a month's 1st, not a quarter's
    assert [dag for dag, _ in reports_due(monday_first)] == ["report_daily", "report_weekly", "report_monthly"]
    quarter = datetime(2026, 1, 1, tzinfo=PARIS)  # Thursday, 1 January
    assert [dag for dag, _ in reports_due(quarter)] == ["report_daily", "report_monthly", "report_quarterly"]


def _world(full: dict[str, float], daily: dict[str, float]) -> dict:
    phase = lambda walls: {  # noqa: E731
        "total_s": sum(v for k, v in walls.items() if not k.startswith(" ")),
        "stages": {k: {"wall_s": v} for k, v in walls.items()},
    }
    return {"full": phase(full), "daily": phase(daily)}


def test_ratios_per_stage_and_in_total():
    one_year = _world(
        {"extract+load": 100.0, "  dbt": 40.0, "alerts": 0.0}, {"extract+load": 10.0, "  dbt": 8.0, "alerts": 5.0}
    )
    assert daily_vs_full(one_year) == {"extract+load": 0.1, "  dbt": 0.2, "alerts": None, "total": 0.15}
    two_years = _world(
        {"extract+load": 200.0, "  dbt": 80.0, "alerts": 0.0}, {"extract+load": 11.0, "  dbt": 8.0, "alerts": 6.0}
    )
    assert history_doubling(one_year, two_years) == {"extract+load": 1.1, "  dbt": 1.0, "alerts": 1.2, "total": 1.133}


def _summary_world(scale: float, full_s: float, daily: dict[str, float] | None) -> dict:
    world = {"scale": scale, "years": 1, "measured_at": "2026-12-04T04:00:00+00:00", "load_1m_before": 0.5}
    world["full"] = {"total_s": full_s, "peak_rss_mb": 900, "stages": {}}
    if daily is not None:
        world["daily"] = {"total_s": sum(daily.values()), "peak_rss_mb": 800, "stages": {
            k: {"wall_s": v} for k, v in daily.items()}}  # fmt: skip
        world["daily_vs_full"] = {"total": round(world["daily"]["total_s"] / full_s, 3)}
    else:
        world["error"] = "ml_scoring failed\nTraceback | ..."
    return world


def test_the_summary_judges_the_100x_daily_without_the_weekly_training_and_keeps_a_lone_backfill():
    from benchmarks.run_all import scale_stages_rows

    results = {
        "machine": {"cores": 2, "load_1m": 0.5},
        "measured_at": "2026-12-04T04:00:00+00:00",
        "not_measured_why": "too long",
        "worlds": {
            "scale 10, 1y": _summary_world(10, 1000.0, None),
            "scale 100, 1y": _summary_world(
                100, 6000.0, {"extract+load": 300.0, "ML training": 200.0, "alerts": 250.0}
            ),
        },
    }
    rows = scale_stages_rows(results)
    lone = next(r for r in rows if r.startswith("| scale 10, 1 y of history: full backfill |"))
    assert "1000 s (900 MB)" in lone and "not measured: ml_scoring failed |" in lone and "Traceback" not in lone
    hundred = next(r for r in rows if r.startswith("| scale 100, 1 y of history:"))
    assert "/ 750 s (800 MB), 550 s on a day without the weekly ML training; target <= 600 s: met" in hundred
    assert "daily/full 12.5%" in hundred
    results["worlds"]["scale 100, 1y"]["daily"]["stages"]["ML training"]["wall_s"] = 100.0
    assert "650 s on a day without the weekly ML training; target <= 600 s: not met" in "".join(
        scale_stages_rows(results)
    )
    assert any("not measured" in r and "scale 1, 10" in r for r in rows)  # 10 has no daily run
