"""Impossible source rows (issue 9 item 12): the simulator plants tickets closed before they were
created at a documented rate (ground truth crm_defects.csv); dbt flags each one, measures nothing
from its close date and warns with the count; only a share above `impossible_row_share_max` of
a 28-day window stops the build."""

from __future__ import annotations

import csv

import pytest

from simulators.export.crm import CLOSED_BEFORE_CREATED_RATE
from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration

SHARE_TEST = "share_below_fct_tickets_is_closed_before_created"
WARN_TEST = "accepted_values_fct_tickets_is_closed_before_created"


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


def _result(results: list[dict], prefix: str) -> dict:
    (found,) = [r for r in results if r["unique_id"].split(".")[2].startswith(prefix)]
    return found


def test_planted_impossible_tickets_are_flagged_unmeasured_and_only_warn(dbt_world: DbtWorld):
    with open(dbt_world.truth_dir / "crm_defects.csv") as f:
        planted = {row["ticket_id"]: row for row in csv.DictReader(f)}
    closed = dbt_world.query("select count(*) from marts_build.fct_tickets where is_closed")[0][0]
    # planted at the documented rate, give or take Poisson noise (~1 in 1,000 closed tickets)
    assert 1 <= len(planted) <= 4 * CLOSED_BEFORE_CREATED_RATE * closed + 3
    flagged = dbt_world.query(
        "select ticket_id, closed_at = created_at and closed_date = created_date, resolution_calendar_hours, "
        "resolution_business_hours, is_resolution_sla_breached, recorded_closed_at < created_at "
        "from marts_build.fct_tickets where is_closed_before_created"
    )
    assert {r[0] for r in flagged} == set(planted)
    # closed at its creation (no backlog left behind), no resolution time, the CRM's date kept aside
    assert all(r[1:6] == (True, None, None, False, True) for r in flagged)
    assert dbt_world.query("select min(resolution_calendar_hours) >= 0 from marts_build.fct_tickets")[0][0]

    # The build went on: the row-level rule warns with the count, the rate rule passes.
    assert dbt_world.build_returncode == 0
    warned = _result(dbt_world.results, WARN_TEST)
    assert warned["status"] == "warn" and warned["failures"] == len(planted)
    assert _result(dbt_world.results, SHARE_TEST)["status"] == "pass"


def test_a_share_above_the_threshold_in_the_last_28_days_stops_the_build(dbt_world: DbtWorld):
    """A CRM clock gone wrong for a day: 40 tickets of the last weeks closed before creation."""
    wh = dbt_world.warehouse
    wh.execute(
        """
        create table public.broken_tickets as
        select id, payload, _batch_id, _loaded_at from raw_crm.tickets
        where payload->'properties'->>'hs_pipeline_stage' = '4'
        order by (payload->'properties'->>'createdate') desc limit 40;
        update raw_crm.tickets t set _batch_id = 'test-clock-gone-wrong', _loaded_at = now(),
            payload = jsonb_set(t.payload, '{properties,closed_date}', to_jsonb(to_char(
                ((t.payload->'properties'->>'createdate')::timestamptz - interval '3 hours') at time zone 'UTC',
                'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
        from public.broken_tickets b where b.id = t.id;
        """
    )
    try:
        dbt_world.dbt("run", "--select", "fct_tickets")
        assert (
            dbt_world.query("select count(*) from marts_build.fct_tickets where is_closed_before_created")[0][0] >= 40
        )
        proc = dbt_world.dbt("test", "--select", "fct_tickets,test_name:share_below", check=False)
        assert proc.returncode != 0
        assert f"Failure in test {SHARE_TEST}" in proc.stdout
    finally:
        # the corrected versions, as a later load brings them; then the raw rows' lineage as it was
        wh.execute(
            "update raw_crm.tickets t set payload = b.payload, _batch_id = 'test-clock-fixed', _loaded_at = now() "
            "from public.broken_tickets b where b.id = t.id"
        )
        dbt_world.dbt("run", "--select", "fct_tickets")
        wh.execute(
            "update raw_crm.tickets t set _batch_id = b._batch_id, _loaded_at = b._loaded_at "
            "from public.broken_tickets b where b.id = t.id; drop table public.broken_tickets"
        )
    assert dbt_world.dbt("test", "--select", "fct_tickets,test_name:share_below", check=False).returncode == 0
