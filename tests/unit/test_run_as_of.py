"""The transform run's as-of instant: its data interval end; for an asset-triggered run (no data
interval in Airflow 3) the latest data interval end of the ingestion runs that triggered it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from cs_analytics.run_context import reference_instant, resolve_as_of

DAY_END = datetime(2026, 3, 12, tzinfo=UTC)


def _event(interval_end: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(source_dag_run=SimpleNamespace(data_interval_end=interval_end))


def test_a_scheduled_or_manual_run_uses_its_data_interval_end():
    context = {"data_interval_end": DAY_END, "triggering_asset_events": {"raw_cti": [_event(datetime(2030, 1, 1))]}}
    assert reference_instant(context) == DAY_END
    assert resolve_as_of(context) == "2026-03-12T00:00:00+00:00"


def test_an_asset_triggered_run_uses_the_latest_interval_its_ingestion_runs_covered():
    context = {
        "data_interval_end": None,
        "logical_date": None,
        "triggering_asset_events": {
            "raw_crm": [_event(datetime(2026, 3, 11, tzinfo=UTC)), _event(DAY_END)],
            "raw_cti": [_event(None)],  # an event without a source run (posted through the API)
        },
        "dag_run": SimpleNamespace(run_after=datetime(2026, 3, 12, 6, 41, tzinfo=UTC)),
    }
    assert reference_instant(context) == DAY_END


def test_without_interval_or_events_the_run_is_measured_when_it_was_due():
    due = datetime(2026, 3, 12, 6, 41, tzinfo=UTC)
    assert reference_instant({"triggering_asset_events": {}, "dag_run": SimpleNamespace(run_after=due)}) == due
