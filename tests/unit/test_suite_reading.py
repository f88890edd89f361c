"""A suite names the published marts; the gate audits the hidden build by reading other schemas."""

from __future__ import annotations

from cs_analytics.quality.specs import load_suite_specs


def test_mart_suites_read_the_build_and_raw_suites_are_untouched():
    specs = {s.name: s for s in load_suite_specs()}
    volume = specs["marts__call_volume"].reading({"marts": "marts_build"})
    assert volume.table == "marts_build.mart_kpi_daily"
    assert "from marts_build.mart_kpi_daily" in volume.sql and "from marts.mart_kpi_daily" not in volume.sql
    calls = specs["raw_cti__calls"]
    assert calls.reading({"marts": "marts_build"}) == calls
    assert specs["marts__fct_calls"].reading({}) is specs["marts__fct_calls"]
    freshness = specs["marts__freshness"].reading({"marts": "marts_build"})
    assert "raw_" in freshness.sql and "marts." not in freshness.sql.replace("marts_build.", "")  # others stay
