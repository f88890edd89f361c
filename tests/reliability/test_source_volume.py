"""The quality gate flags a source whose daily volume collapses to zero (meta__source_volume)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cs_analytics.quality.gate import run_gate
from cs_analytics.quality.specs import load_suite_specs
from cs_analytics.schema import ensure_schema

pytestmark = pytest.mark.integration
AS_OF = datetime(2026, 3, 11, 23, 0, tzinfo=UTC)  # 12 March 00:00 in Paris: the run of 11 March


def batches(warehouse, rows_by_source: dict[str, list[int]]) -> None:
    """One load a day per source, the last list item on the run's day."""
    for source, per_day in rows_by_source.items():
        for i, rows in enumerate(reversed(per_day)):
            end = AS_OF - timedelta(days=i)
            warehouse.execute(
                "insert into meta.load_batches (batch_id, source, object, dag_id, run_id, interval_start, "
                "interval_end, rows_read, started_at) values (%s, %s, 'x', 'ingest', %s, %s, %s, %s, now())",
                (f"{source}:{i}", source, f"r{i}", end - timedelta(days=1), end, rows),
            )


def test_a_source_reading_nothing_after_a_week_of_deliveries_is_flagged_others_are_not(warehouse, tmp_path):
    ensure_schema(warehouse)
    batches(
        warehouse,
        {
            "cti": [900, 850, 0, 910, 880, 870, 0],  # usually delivers; nothing today
            "crm": [40, 35, 0, 38, 41, 39, 37],  # a quiet day before, fine today
            "erp": [0, 0, 0, 0, 0, 0, 0],  # never delivers on these days: nothing to judge
        },
    )
    result = run_gate(
        load_suite_specs(only=["meta__source_volume"]),
        run_id="volume",
        warehouse=warehouse,
        context_root=tmp_path / "ctx",
        docs_dir=tmp_path / "docs",
        as_of=AS_OF,
    )
    assert result.passed  # a warning: the run goes on
    failed = [o for o in result.outcomes if not o.success]
    assert [(o.suite, o.column, o.severity) for o in failed] == [
        ("meta__source_volume", "rows_read_when_usually_delivering", "warning")
    ]
    assert warehouse.query("select source from dq.meta__source_volume where rows_read = 0 order by source") == [
        ("cti",),
        ("erp",),
    ]
    assert [int(v) for v in failed[0].partial_unexpected] == [0]
