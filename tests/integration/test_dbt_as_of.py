"""The marts' "today" (issue 9 item 10): the as-of instant comes from the run (the dbt var `as_of`
the transform DAG sets from its data interval), else from the day of the latest CDR file, never
from the latest call, so one mis-dated call cannot move every open ticket's age."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.integration.dbt_world import END_DATE, PARIS, DbtWorld, run_dbt, shared_world

pytestmark = pytest.mark.integration

FUTURE_CALL = f"{END_DATE:%Y%m%d}99997"


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


def _open_ages(world: DbtWorld) -> list[tuple]:
    return world.query(
        "select ticket_id, open_age_calendar_hours from marts_build.fct_tickets where not is_closed order by ticket_id"
    )


def test_a_call_dated_eight_days_ahead_moves_no_open_ticket_age(dbt_world: DbtWorld):
    ages = _open_ages(dbt_world)
    (last_kpi_day,) = dbt_world.query("select max(kpi_date) from marts_build.mart_kpi_daily")[0]
    assert ages and last_kpi_day == END_DATE
    # The last day's file holds one call stamped 192 hours ahead (a CTI clock gone wrong).
    dbt_world.warehouse.execute(
        """
        insert into raw_cti.calls (call_id, started_at, ended_at, local_start_time, local_end_time, caller_number,
            called_number, direction, queue, wait_seconds, talk_seconds, outcome, agent_id, agent_name,
            _file_name, _file_date, _line_number, _file_sha256, _batch_id, _loaded_at)
        select %s, started_at + interval '192 hours', ended_at + interval '192 hours', local_start_time,
            local_end_time, caller_number, called_number, direction, queue, wait_seconds, talk_seconds, outcome,
            agent_id, agent_name, _file_name, _file_date, 99997, _file_sha256, _batch_id, now()
        from raw_cti.calls where _file_date = %s order by call_id limit 1
        """,
        (FUTURE_CALL, END_DATE),
    )
    try:
        dbt_world.dbt("run", "--select", "fct_tickets", "mart_kpi_daily")  # no var: a plain `dbt build`
        assert _open_ages(dbt_world) == ages
        assert dbt_world.query("select max(kpi_date) from marts_build.mart_kpi_daily")[0][0] == END_DATE

        # What the DAG does: the run's data interval end, whatever the data hold.
        run_end = datetime.combine(END_DATE + timedelta(days=1), datetime.min.time(), PARIS)
        dbt_world.dbt("run", "--select", "fct_tickets", "--vars", f'{{as_of: "{run_end.isoformat()}"}}')
        assert _open_ages(dbt_world) == ages
        # A day later, every open ticket is 24 hours older; the DAG passes the instant as DBT_AS_OF.
        later = (run_end + timedelta(days=1)).isoformat()
        run_dbt(dbt_world.root, {**dbt_world.env, "DBT_AS_OF": later}, "run", "--select", "fct_tickets")
        older = dict(_open_ages(dbt_world))
        assert all(older[t] == round(age + 24, 4) for t, age in ages)
    finally:
        dbt_world.warehouse.execute("delete from raw_cti.calls where call_id = %s", (FUTURE_CALL,))
        dbt_world.dbt("run", "--select", "fct_tickets", "mart_kpi_daily")
    assert _open_ages(dbt_world) == ages
