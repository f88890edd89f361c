"""The call-volume alert rules read the mart's own overload flag and threshold."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cs_analytics.alerts.rules import calls_overload, forecast_overload
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse

DAY = date(2026, 3, 10)


@pytest.fixture
def marts(warehouse: Warehouse) -> Warehouse:
    ensure_schema(warehouse)
    warehouse.execute(
        "create schema marts; create table marts.mart_kpi_daily (kpi_date date primary key, calls_per_day bigint, "
        "calls_per_day_alert_threshold integer, is_call_overload boolean)"
    )
    return warehouse


def kpi_day(wh: Warehouse, day: date, calls: int, threshold: int, overload: bool) -> None:
    wh.execute("insert into marts.mart_kpi_daily values (%s, %s, %s, %s)", (day, calls, threshold, overload))


def test_calls_overload_follows_the_marts_flag_and_names_its_threshold(marts: Warehouse):
    kpi_day(marts, DAY, calls=55, threshold=50, overload=True)
    kpi_day(marts, DAY - timedelta(days=1), calls=90, threshold=95, overload=False)

    (alert,) = calls_overload(marts, DAY)
    assert alert.key == f"calls_overload:{DAY}" and alert.severity == "important"
    assert dict(alert.facts) == {"Appels": "55", "Seuil": "50"} and "seuil de 50" in alert.summary
    assert calls_overload(marts, DAY - timedelta(days=1)) == []  # 90 calls, but the mart says no overload
    assert calls_overload(marts, DAY + timedelta(days=1)) == []  # no row: nothing to say


def test_forecast_overload_uses_the_threshold_of_the_forecast_day(marts: Warehouse):
    kpi_day(marts, DAY, calls=40, threshold=60, overload=False)
    marts.execute(
        "insert into ml.call_volume_forecast (forecast_date, target_date, horizon_days, yhat, yhat_lower, "
        "yhat_upper, model) select %s, %s::date + h, h, y, y - 10, y + 10, 'test' "
        "from (values (1, 58.0), (2, 64.0), (3, 71.0), (9, 80.0)) v(h, y)",
        (DAY, DAY),
    )
    (alert,) = forecast_overload(marts, DAY)
    assert [d.split(" : ")[1] for d in alert.details] == [
        "64 appels prévus (jusqu'à 74)",
        "71 appels prévus (jusqu'à 81)",
    ]
    assert "au-dessus de 60 appels" in alert.summary  # day 9 is beyond the 7-day look-ahead
