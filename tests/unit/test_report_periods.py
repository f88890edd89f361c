"""The period each report covers (the last complete one before its run, Paris time) and the KPI
verdicts the report prints beside the mart's figures."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from cs_analytics.reports.periods import Period
from ml_tasks.kpi_trends import KpiSpec, compare

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("kind", "due", "key", "start", "end"),
    [
        ("day", datetime(2026, 3, 11, 8, tzinfo=PARIS), "2026-03-10", date(2026, 3, 10), date(2026, 3, 11)),
        ("week", datetime(2026, 3, 16, 9, tzinfo=PARIS), "2026-W11", date(2026, 3, 9), date(2026, 3, 16)),
        ("month", datetime(2026, 3, 1, 9, tzinfo=PARIS), "2026-02", date(2026, 2, 1), date(2026, 3, 1)),
        ("quarter", datetime(2026, 1, 1, 10, tzinfo=PARIS), "2025-Q4", date(2025, 10, 1), date(2026, 1, 1)),
        # 23:30 UTC on the 10th is already the 11th in Paris: the 10th is the day reported
        ("day", datetime(2026, 3, 10, 23, 30, tzinfo=UTC), "2026-03-10", date(2026, 3, 10), date(2026, 3, 11)),
    ],
)
def test_a_run_reports_on_the_last_complete_period_before_it(kind, due, key, start, end):
    p = Period.ending_before(kind, due)
    assert (p.key, p.start, p.end) == (key, start, end)


def test_comparisons_are_the_previous_period_and_the_same_one_a_year_before():
    day = Period.containing("day", date(2026, 3, 10))  # a Tuesday
    assert day.last_year().start == date(2025, 3, 11) and day.last_year().start.weekday() == 1
    assert Period.containing("quarter", date(2026, 2, 3)).previous().key == "2025-Q4"
    assert Period.containing("month", date(2026, 1, 15)).last_year().key == "2025-01"
    assert Period.containing("week", date(2026, 1, 1)).key == "2026-W01"
    with pytest.raises(ValueError, match="timezone-aware"):
        Period.ending_before("day", datetime(2026, 3, 10, 8))


def test_a_kpi_off_target_whose_mart_flag_still_waits_is_provisional_not_on_target():
    fcr = KpiSpec("first_contact_resolution_rate", "FCR", "pct", "first_contact_resolution_target", ">=",
                  "!is_first_contact_resolution_alert", "higher")  # fmt: skip
    row = {"first_contact_resolution_rate": 0.577, "first_contact_resolution_target": 0.70}
    waiting = compare([fcr], {**row, "is_first_contact_resolution_alert": False}, None, None)[0]
    alerting = compare([fcr], {**row, "is_first_contact_resolution_alert": True}, None, None)[0]
    fine = compare([fcr], {**row, "first_contact_resolution_rate": 0.8, "is_first_contact_resolution_alert": False},
                   None, None)[0]  # fmt: skip
    assert (waiting.status, alerting.status, fine.status) == ("wait", "ko", "ok")
