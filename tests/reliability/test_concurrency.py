"""Runs that overlap. Airflow keeps one run of a DAG at a time (max_active_runs=1), but a backfill's
runs are limited only by the backfill's own max_active_runs, and a manual `airflow tasks test` or a
cleared task runs whenever asked: the loads themselves must stay correct when runs overlap.

- A backfill beside the daily run (two intervals of one load at once) ends as the two run one
  after the other: the watermark row is locked for the load's transaction, so they queue.
- Two first-ever runs of one load (same interval) racing on an empty warehouse: the raw table's DDL
  is taken under the schema lock, so the second waits instead of failing on a half-created table."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.ingestion.crm import HubSpotClient, load_object
from cs_analytics.ingestion.erp import load_table
from cs_analytics.warehouse import Warehouse
from tests.integration.alerting import sinks  # noqa: F401
from tests.integration.test_ingest_api import BASE, FUTURE, SETTINGS, N, crm, ctx, raw_state, session  # noqa: F401
from tests.reliability.results import record_fault

pytestmark = pytest.mark.integration


@pytest.fixture
def reference(second_db_url) -> Warehouse:
    """The warehouse where the same runs go one after the other."""
    return Warehouse(second_db_url)


def race(*loads: Callable[[], object]) -> list[str]:
    """Start the loads at the same instant, each in its thread; the errors they raised."""
    errors: list[str] = []
    start = threading.Barrier(len(loads))

    def run(load) -> None:
        start.wait()
        try:
            load()
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    threads = [threading.Thread(target=run, args=(load,)) for load in loads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


LOG = (
    "select b.interval_start, b.interval_end, b.window_end, r.matches from meta.load_batches b "
    "left join meta.source_reconciliation r using (batch_id) where b.source = 'crm' order by b.interval_end, 1"
)


def test_a_backfill_beside_the_daily_run_ends_as_the_two_runs_in_turn(warehouse, reference, crm):  # noqa: F811
    server, url = crm

    def load(wh: Warehouse, run: str, end: datetime, start: datetime | None = None):
        client = HubSpotClient(session(url, server), page_size=20)  # one HTTP session per run
        return load_object(wh, client, "contacts", ctx("contacts", run, end, start), SETTINGS)

    yesterday = BASE + timedelta(hours=100)
    for wh in (warehouse, reference):
        load(wh, "first", yesterday)
    old = (BASE + timedelta(hours=40), BASE + timedelta(hours=60))  # the interval backfilled
    load(reference, "backfill", old[1], old[0])
    load(reference, "daily", FUTURE, yesterday)

    errors = race(
        lambda: load(warehouse, "backfill", old[1], old[0]),
        lambda: load(warehouse, "daily", FUTURE, yesterday),
    )
    got, want = raw_state(warehouse, "raw_crm.contacts"), raw_state(reference, "raw_crm.contacts")
    mark = "select watermark from meta.watermarks where source = 'crm' and object = 'contacts'"
    record_fault("crm_backfill_beside_the_daily_run", source="crm", attempts=1, rows_expected=want[0], rows=got[0],
                 distinct=got[1], identical=got == want and warehouse.query(LOG) == reference.query(LOG),
                 detail=f"a backfill of an older interval and the daily run at once; {len(errors)} failed")  # fmt: skip
    assert not errors, errors
    assert got == want and got[0] == got[1] == N
    assert warehouse.query(LOG) == reference.query(LOG)  # each run read its own window, both reconciled
    assert all(matches for *_, matches in warehouse.query(LOG))
    assert warehouse.query(mark) == reference.query(mark)  # the backfill did not move the watermark back


def test_two_first_runs_of_the_crm_load_racing_leave_what_one_run_leaves(warehouse, reference, crm):  # noqa: F811
    server, url = crm

    def load(wh: Warehouse, run: str):
        return load_object(wh, HubSpotClient(session(url, server)), "contacts", ctx("contacts", run, FUTURE), SETTINGS)

    load(reference, "single")
    errors = race(lambda: load(warehouse, "scheduled"), lambda: load(warehouse, "manual"))
    got, want = raw_state(warehouse, "raw_crm.contacts"), raw_state(reference, "raw_crm.contacts")
    record_fault("crm_two_first_runs_racing", source="crm", attempts=1, rows_expected=want[0], rows=got[0],
                 distinct=got[1], identical=got == want,
                 detail=f"two first-ever runs of one interval on an empty warehouse; {len(errors)} failed: {errors}")  # fmt: skip
    assert not errors, errors
    assert got == want and got[0] == N
    assert warehouse.query("select count(*), bool_and(matches) from meta.source_reconciliation") == [(2, True)]


def test_two_first_runs_of_the_erp_load_racing_leave_what_one_run_leaves(warehouse, reference, server_url):
    from tests.conftest import throwaway_database
    from tests.reliability.corpus import SAGE_DDL

    end = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
    with throwaway_database(server_url, "erp_race") as erp_url:
        with psycopg.connect(erp_url, autocommit=True) as conn:
            conn.execute(SAGE_DDL)
            conn.execute(
                'insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", '
                "\"cbModification\") select 'CL' || lpad(i::text, 6, '0'), 'Client ' || i, '0478', 'x@y.fr', 0, "
                "timestamp '2025-05-01' + i * interval '1 minute' from generate_series(10, 5009) i"
            )
        erp = Warehouse(erp_url)

        def load(wh: Warehouse, run: str):
            return load_table(wh, erp, "F_COMPTET", BatchContext("erp", "F_COMPTET", "ingest_erp", run, None, end),
                              SETTINGS)  # fmt: skip

        load(reference, "single")
        errors = race(lambda: load(warehouse, "scheduled"), lambda: load(warehouse, "manual"))
    state = "select count(*), count(distinct ct_num), md5(string_agg(ct_num || ct_intitule, ',' order by ct_num)) "
    state += "from raw_erp.f_comptet"
    got, want = warehouse.query(state)[0], reference.query(state)[0]
    record_fault("erp_two_first_runs_racing", source="erp", attempts=1, rows_expected=want[0], rows=got[0],
                 distinct=got[1], identical=got == want,
                 detail=f"two first-ever runs of one interval on an empty warehouse; {len(errors)} failed: {errors}")  # fmt: skip
    assert not errors, errors
    assert got == want and got[0] == got[1] == 5003


def test_two_overlapping_runs_of_the_alerts_send_each_message_once(warehouse, sinks):  # noqa: F811
    """Both runs write the same messages (the outbox keeps the first) and deliver at once: a message
    is claimed by one sender only (`for update skip locked`, then a lease)."""
    from cs_analytics.alerts import outbox
    from cs_analytics.alerts.channels.crm import reference_token
    from cs_analytics.alerts.messages import OutboxMessage
    from cs_analytics.schema import ensure_schema
    from tests.integration.alerting import FAST, OWNERS, channels
    from tests.integration.test_outbox import alert_messages, crm_task

    tasks = [OutboxMessage.create(f"vip_dissatisfied:{i}", "crm_task", o, crm_task(o)) for i, o in enumerate(OWNERS)]
    messages = [*alert_messages(), *tasks]
    ensure_schema(warehouse)  # created before the race, as any earlier run did
    reports: list = []
    errors = race(*[
        lambda run=run: reports.append(outbox.send_now(warehouse, messages, channels(warehouse), dag_id="alerts",
                                                       run_id=run, settings=FAST))
        for run in ("scheduled", "manual")
    ])  # fmt: skip
    created = sinks.crm_tasks()
    per_task = [sum(reference_token(m.key) in t["hs_task_body"] for t in created) for m in tasks]
    slack = [m for m in sinks.slack("#service-client-alertes") if not m.get("thread_ts")]
    record_fault("alerts_two_overlapping_runs", source="alerts", attempts=1, alerts_expected=len(messages),
                 emails=len(sinks.mails()), slack=len(slack), crm_tasks=len(created),
                 detail=f"two runs of the alerts DAG delivering the same {len(messages)} messages at once; "
                 f"sent {[r.total_sent for r in reports]}")  # fmt: skip
    assert not errors, errors
    assert sum(r.total_sent for r in reports) == 5  # between them, each message once
    assert len(sinks.mails()) == 1 and len(slack) == 1 and per_task == [1, 1, 1]
    assert warehouse.query("select count(*), bool_and(status = 'sent') from meta.outbox") == [(5, True)]
