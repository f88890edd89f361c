"""The call forecast and the route planner on the shared small world (loaded by the production
loaders, built by dbt): outputs written to the real warehouse, a re-run replacing them, and each
model beating its trivial baseline."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from cs_analytics.ml.forecast import forecast_inputs, write_call_forecast
from cs_analytics.ml.routes import load_stops, plan_next_day
from ml_tasks import forecast as F
from ml_tasks import routing as R
from tests.integration.dbt_world import END_DATE, DbtWorld, shared_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    world = shared_world(tmp_path_factory, request)
    if world.build_returncode != 0:  # type: ignore[attr-defined]
        pytest.fail("dbt build of the shared world failed: see test_dbt_build")
    return world


def test_forecast_written_with_its_weather_and_replaced_on_rerun(dbt_world):
    wh = dbt_world.warehouse
    first = write_call_forecast(wh, END_DATE, "run-1")
    query = (
        "select count(*), min(target_date), max(target_date), count(weather_lead_days), max(weather_lead_days), "
        "bool_and(yhat_lower <= yhat and yhat <= yhat_upper) from ml.call_volume_forecast where forecast_date = %s"
    )
    rows, first_day, last_day, with_weather, max_lead, ordered = wh.query(query, (END_DATE,))[0]
    assert (rows, first_day, last_day, ordered) == (
        30,
        END_DATE + timedelta(days=1),
        END_DATE + timedelta(days=30),
        True,
    )
    assert with_weather == first["days_with_weather_forecast"] == 15 and max_lead == 15
    second = write_call_forecast(wh, END_DATE, "run-2")
    assert wh.query(query, (END_DATE,))[0][0] == 30
    runs = wh.query("select run_id, metrics->>'mae' from ml.model_runs where model = %s", (F.MODEL_NAME,))
    assert runs == [("run-2", str(second["mae"]))]


def test_next_day_routes_keep_windows_and_are_replaced_on_rerun(dbt_world):
    wh = dbt_world.warehouse
    route_date = END_DATE + timedelta(days=1)
    stops, _ = load_stops(wh, route_date)
    assert len(stops) > 0
    summary = plan_next_day(wh, END_DATE, "run-1")
    query = (
        "select count(*), count(distinct intervention_id), bool_and(planned_arrival between window_start and window_end), "
        "min(position), round(sum(km_from_previous + km_to_home)::numeric, 1) from ml.technician_routes where route_date = %s"
    )
    rows, distinct, in_windows, first_position, km = wh.query(query, (route_date,))[0]
    assert rows == distinct == len(stops) and in_windows and first_position == 1
    assert float(km) == pytest.approx(summary["km"], abs=0.2) and summary["km"] <= summary["office_km"]
    again = plan_next_day(wh, END_DATE, "run-2")
    rerun = wh.query(query, (route_date,))[0]
    assert rerun[:3] == (rows, distinct, True) and float(rerun[4]) == pytest.approx(again["km"], abs=0.2)
    assert wh.query("select count(*) from ml.model_runs where model = 'route_planner_ortools'") == [(1,)]
    # A day nobody is booked (the world's visits end before this): no rows, no failure.
    empty = plan_next_day(wh, END_DATE + timedelta(days=400), "run-3")
    assert empty["rows"] == 0 and empty["visits"] == 0


def test_the_forecast_beats_seasonal_naive_on_the_world(dbt_world):
    wh = dbt_world.warehouse
    daily = wh.query_df("select ds, y, is_future, temperature_mean_c, temperature_run_date from marts.ml_daily_calls")
    runs = wh.query_df("select run_date, ds, lead_days, temperature_mean_c from marts.ml_weather_forecasts")
    origin = pd.Timestamp(END_DATE) - pd.Timedelta(days=30)
    history, future = F.origin_inputs(daily[~daily["is_future"]], runs, origin)
    actual = daily.set_index(pd.to_datetime(daily["ds"]))["y"].reindex(future["ds"]).to_numpy(dtype=float)
    model = F.forecast_calls(history, future, runs, calibrate=False).forecast["yhat"].to_numpy()
    naive = F.seasonal_naive(history)["yhat"].to_numpy()
    assert abs(model - actual).mean() < abs(naive - actual).mean()
    # and the production path's inputs are the same frames the backtest builds
    prod_history, prod_future = forecast_inputs(daily, END_DATE, 30)
    assert prod_history["ds"].max() == pd.Timestamp(END_DATE) and len(prod_future) == 30


def test_the_route_planner_beats_the_office_order_on_the_world(dbt_world):
    stops = dbt_world.query_df(
        "select work_date, technician_id, intervention_id, latitude, longitude, window_start_minute as window_start_min, "
        "window_end_minute as window_end_min, expected_duration_minutes as duration_min, office_slot_minute as office_rank, "
        "home_latitude, home_longitude from marts.ml_route_stops where work_date > %s::date - 14 and work_date <= %s",
        (END_DATE, END_DATE),
    )
    homes = stops[["technician_id", "home_latitude", "home_longitude"]].drop_duplicates("technician_id")
    _, summary = R.plan_routes(stops, homes)
    assert len(summary) >= 8
    assert summary["km"].sum() < 0.95 * summary["office_km"].sum()
    assert summary["windows_missed"].sum() <= summary["office_windows_missed"].sum()
