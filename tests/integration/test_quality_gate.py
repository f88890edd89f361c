"""The Great Expectations quality gate on deliberately broken batches, each in a throw-away
database: blocked (critical) or warned exactly as the suites in expectations/suites/ say,
the failing rows in meta.dq_quarantine, every outcome in meta.dq_results."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cs_analytics.ingestion.api_load import api_raw_ddl
from cs_analytics.ingestion.cti import RAW_DDL as CTI_DDL
from cs_analytics.quality.gate import run_gate
from cs_analytics.quality.results import GateResult, Outcome
from cs_analytics.quality.specs import load_suite_specs
from cs_analytics.warehouse import Warehouse

pytestmark = pytest.mark.integration

# A fixed, ordinary week: Wednesday 11 March 2026 is the latest day, no French holiday
# within the 28 days before it. The gate runs "as of" the next morning.
LATEST = date(2026, 3, 11)
AS_OF = datetime(2026, 3, 12, 5, 0, tzinfo=UTC)
SUITES = [
    "raw_cti__calls",
    "raw_crm__tickets",
    "marts__mart_kpi_daily",
    "marts__call_volume",
    "marts__freshness",
    "marts__dim_customer",  # its mart is not built here: a warning, not a block
]

KPI_DDL = """
create schema if not exists marts;
create table marts.mart_kpi_daily (
    kpi_date date, calls_per_day bigint, calls_per_day_alert_threshold integer, is_call_overload boolean,
    inbound_calls bigint, answered_calls bigint, avg_wait_seconds numeric, abandonment_rate numeric,
    service_level numeric, first_contact_resolution_rate numeric, tickets_open_over_24h bigint,
    online_booking_share numeric, is_public_holiday boolean
);
create schema if not exists raw_erp;
create table raw_erp.f_docentete (do_domaine smallint, do_type smallint, do_piece varchar(13),
    cbmodification timestamptz, _batch_id text, _loaded_at timestamptz);
"""


def call_row(seq: int, day: date = LATEST, **over) -> dict:
    started = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC) + timedelta(minutes=7 * seq)
    row = {
        "call_id": f"{day:%Y%m%d}{seq:05d}",
        "started_at": started,
        "ended_at": started + timedelta(minutes=4),
        "local_start_time": f"{started:%Y-%m-%d %H:%M:%S}",
        "caller_number": f"+3361234{seq:04d}",
        "called_number": "+33478650200",
        "direction": "inbound",
        "queue": "SAV",
        "wait_seconds": 20,
        "talk_seconds": 200,
        "outcome": "answered",
        "agent_id": "201",
        "agent_name": "Claire Morel",
        "_file_name": f"cdr_{day:%Y%m%d}.csv",
        "_file_date": day,
        "_line_number": seq + 1,
        "_file_sha256": "0" * 64,
        "_batch_id": "test-batch",
        "_loaded_at": datetime.now(UTC),
    }
    row.update(over)
    return row


def insert_calls(wh: Warehouse, rows: list[dict]) -> None:
    cols = list(rows[0])
    with wh.transaction() as conn:
        for r in rows:
            conn.execute(
                f"insert into raw_cti.calls ({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))})",
                [r[c] for c in cols],
            )


def ticket(tid: int, **props) -> tuple:
    created = datetime(2026, 3, 10, 8, 0, tzinfo=UTC) + timedelta(minutes=tid % 1000)
    iso = created.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    p = {
        "hs_pipeline_stage": "4",
        "hs_ticket_category": "RDV_SAV",
        "hs_ticket_priority": "LOW",
        "source_type": "PHONE",
        "hs_contact_id": "51",
        "createdate": iso,
        "first_agent_reply_date": iso,
        "closed_date": iso,
        "nb_agent_replies": "1",
        "nb_reopens": "0",
        "hs_lastmodifieddate": iso,
    }
    p.update(props)
    p = {k: v for k, v in p.items() if v is not None}
    return (str(tid), created, json.dumps({"id": str(tid), "properties": p}))


def insert_tickets(wh: Warehouse, rows: list[tuple]) -> None:
    with wh.transaction() as conn:
        for tid, updated, payload in rows:
            conn.execute(
                "insert into raw_crm.tickets (id, source_updated_at, payload, _record_hash, _batch_id, _loaded_at, "
                "_source) values (%s, %s, %s, 'h', 'test-batch', now(), '/crm/v3/objects/tickets')",
                (tid, updated, payload),
            )


def kpi_days(latest_calls: int | None = None, latest_is_holiday: bool = False) -> list[tuple]:
    """60 days to LATEST: 50 calls on weekdays, 20 on Saturdays, 3 on Sundays."""
    rows = []
    for i in range(60):
        d = LATEST - timedelta(days=59 - i)
        calls = {6: 20, 7: 3}.get(d.isoweekday(), 50)
        if d == LATEST and latest_calls is not None:
            calls = latest_calls
        holiday = latest_is_holiday and d == LATEST  # no real holiday in these 60 days
        rows.append(
            (d, calls, 70, calls > 70, calls - 5 if calls > 5 else 0, calls // 2, 30, 0.1, 0.4, 0.7, 2, 0.25, holiday)
        )
    return rows


def set_kpis(wh: Warehouse, rows: list[tuple]) -> None:
    with wh.transaction() as conn:
        conn.execute("delete from marts.mart_kpi_daily")
        with conn.cursor() as cur:
            cur.executemany("insert into marts.mart_kpi_daily values (" + ", ".join(["%s"] * 13) + ")", rows)


@pytest.fixture
def world(warehouse: Warehouse) -> Warehouse:
    """A small clean world: 40 calls, 20 tickets, 60 days of KPIs, fresh ERP and app rows."""
    warehouse.execute(CTI_DDL)
    warehouse.execute(api_raw_ddl("raw_crm", "tickets"))
    warehouse.execute(api_raw_ddl("raw_app", "interventions"))
    warehouse.execute(KPI_DDL)
    insert_calls(warehouse, [call_row(i) for i in range(40)])
    insert_tickets(warehouse, [ticket(9_000_001 + i) for i in range(20)])
    set_kpis(warehouse, kpi_days())
    warehouse.execute(
        "insert into raw_erp.f_docentete values (0, 6, 'FA000001', '2026-03-11 10:00+00', 'b', now());"
        "insert into raw_app.interventions (id, source_updated_at, payload, _record_hash, _batch_id, _loaded_at, "
        "_source) values ('INT-000001', '2026-03-11 16:00+00', '{}', 'h', 'b', now(), '/api/v1/interventions')"
    )
    return warehouse


@pytest.fixture
def gate(world: Warehouse, tmp_path: Path):
    """Run the gate on the test database with its own GX context and Data Docs in tmp_path."""
    counter = iter(range(1, 100))

    def run(suites: list[str] = SUITES, as_of: datetime = AS_OF) -> GateResult:
        return run_gate(
            load_suite_specs(only=suites),
            run_id=f"test_run_{next(counter)}",
            warehouse=world,
            context_root=tmp_path / "ctx",
            docs_dir=tmp_path / "docs",
            as_of=as_of,
            quarantine_cap=50,
        )

    return run


def failures(result: GateResult) -> set[tuple]:
    return {(o.suite, o.expectation, o.column, o.severity) for o in result.outcomes if not o.success}


def test_clean_batch_passes_and_history_holds_every_outcome(gate, world: Warehouse, tmp_path: Path):
    result = gate()

    assert failures(result) == {("marts__dim_customer", "suite_could_not_run", None, "warning")}, [
        o.describe() for o in result.outcomes if not o.success
    ]
    assert result.passed
    assert failures(result) == {("marts__dim_customer", "suite_could_not_run", None, "warning")}
    n_expected = sum(len(s.expectations) for s in load_suite_specs(only=SUITES) if s.name != "marts__dim_customer")
    assert len(result.outcomes) == n_expected + 1
    assert world.query(
        "select count(*), count(*) filter (where success) from meta.dq_results where run_id = %s", (result.run_id,)
    ) == [(n_expected + 1, n_expected)]
    assert world.query(
        "select passed, critical_failures, warnings from meta.dq_runs where run_id = %s", (result.run_id,)
    ) == [(True, 0, 1)]
    assert world.query("select count(*) from meta.dq_quarantine") == [(0,)]
    assert [r[0] for r in world.query("select suite from meta.dq_latest_warnings")] == ["marts__dim_customer"]
    # Data Docs: the site index and one page per suite validated, in the folder asked for
    assert (tmp_path / "docs" / "index.html").exists()
    page = result.suite_docs["raw_cti__calls"]
    assert page.startswith("file://") and Path(page[len("file://") :]).exists()
    # the volume band was judged on the latest (ordinary) day
    ratio = next(o for o in result.find("marts__call_volume", "expect_column_values_to_be_between"))
    assert ratio.success and ratio.element_count == 1


def test_broken_raw_rows_are_blocked_or_warned_as_configured_and_quarantined(gate, world: Warehouse):
    insert_calls(
        world,
        [
            call_row(101, outcome=None),  # required field missing
            call_row(5, _file_date=LATEST - timedelta(days=1)),  # call id 5 again, from another file
            call_row(102, wait_seconds=-5),  # impossible duration
            call_row(103, wait_seconds=5000),  # doubtful, not impossible
        ],
    )
    insert_tickets(
        world,
        [
            ticket(9_100_001, hs_ticket_category="BOGUS"),
            ticket(9_100_002, createdate=None),
        ],
    )

    result = gate(["raw_cti__calls", "raw_crm__tickets"])

    assert not result.passed
    assert failures(result) == {
        ("raw_cti__calls", "expect_column_values_to_not_be_null", "outcome", "critical"),
        ("raw_cti__calls", "expect_column_values_to_be_unique", "call_id", "critical"),
        ("raw_cti__calls", "expect_column_values_to_be_between", "wait_seconds", "critical"),
        ("raw_cti__calls", "expect_column_values_to_be_between", "wait_seconds", "warning"),
        ("raw_crm__tickets", "expect_column_values_to_be_in_set", "hs_ticket_category", "critical"),
        ("raw_crm__tickets", "expect_column_values_to_not_be_null", "createdate", "critical"),
        ("raw_crm__tickets", "expect_column_values_to_not_be_null", "created_at", "critical"),
    }
    unique = result.find("raw_cti__calls", "expect_column_values_to_be_unique", "call_id")[0]
    assert unique.unexpected_count == 2

    q = world.query(
        "select suite, expectation, kwargs->>'column', row_key, row_data from meta.dq_quarantine "
        "where run_id = %s order by 1, 2, 3, 4",
        (result.run_id,),
    )
    by_check = {}
    for suite, exp, col, key, row in q:
        by_check.setdefault((suite, exp, col), []).append((key, row))
    assert sorted(by_check) == sorted((s, e, c) for s, e, c, sev in failures(result) if sev == "critical"), (
        "every critical row-level failure is quarantined, no warning is"
    )
    assert [k for k, _ in by_check[("raw_cti__calls", "expect_column_values_to_not_be_null", "outcome")]] == [
        f"{LATEST:%Y%m%d}00101"
    ]
    dupes = by_check[("raw_cti__calls", "expect_column_values_to_be_unique", "call_id")]
    assert {k for k, _ in dupes} == {f"{LATEST:%Y%m%d}00005"} and len(dupes) == 2  # both copies kept
    ((key, row),) = by_check[("raw_cti__calls", "expect_column_values_to_be_between", "wait_seconds")]
    assert row["wait_seconds"] == -5 and row["_file_name"] == f"cdr_{LATEST:%Y%m%d}.csv"
    ((key, row),) = by_check[("raw_crm__tickets", "expect_column_values_to_be_in_set", "hs_ticket_category")]
    assert key == "9100001" and row["payload"]["properties"]["hs_ticket_category"] == "BOGUS"  # the raw row, whole

    hist = world.query(
        "select count(*) filter (where not success and severity = 'critical'), "
        "count(*) filter (where not success and severity = 'warning'), sum(quarantined_rows) "
        "from meta.dq_results where run_id = %s",
        (result.run_id,),
    )
    assert hist == [(6, 1, 7)]
    assert world.query("select passed from meta.dq_runs where run_id = %s", (result.run_id,)) == [(False,)]


def test_a_call_dated_after_the_run_as_of_instant_blocks_and_is_quarantined(gate, world: Warehouse):
    """Issue 9 item 10: "not in the future" is judged against the run's as-of instant (its data
    interval end), not the wall clock: a CDR row 8 days ahead of the run is rejected even though
    that day is long past, so it can move no mart's "today"."""
    ahead = datetime(2026, 3, 19, 9, 30, tzinfo=UTC)
    insert_calls(world, [call_row(200, started_at=ahead, ended_at=ahead + timedelta(minutes=3))])

    result = gate(["raw_cti__calls"])

    assert not result.passed
    assert failures(result) == {("raw_cti__calls", "expect_column_values_to_be_between", "started_at", "critical")}
    (future,) = result.find("raw_cti__calls", "expect_column_values_to_be_between", "started_at")
    assert future.unexpected_count == 1 and future.quarantined_rows == 1
    assert world.query("select row_key from meta.dq_quarantine where run_id = %s", (result.run_id,)) == [
        (f"{LATEST:%Y%m%d}00200",)
    ]


def test_dropped_column_blocks(gate, world: Warehouse):
    world.execute("alter table raw_cti.calls drop column queue")

    result = gate(["raw_cti__calls"])

    assert not result.passed
    assert failures(result) == {
        ("raw_cti__calls", "expect_table_columns_to_match_set", None, "critical"),
        ("raw_cti__calls", "expect_column_values_to_be_in_set", "queue", "warning"),  # cannot run: reported
    }
    cols = result.find("raw_cti__calls", "expect_table_columns_to_match_set")[0]
    assert "queue" not in cols.observed_value
    assert world.query("select count(*) from meta.dq_quarantine") == [(0,)]  # a table-level failure: no rows


def test_volume_collapse_blocks_and_a_dip_only_warns(gate, world: Warehouse):
    set_kpis(world, kpi_days(latest_calls=2))  # 4% of a usual Wednesday
    collapse = gate(["marts__call_volume"])
    assert not collapse.passed
    assert failures(collapse) == {
        ("marts__call_volume", "expect_column_values_to_be_between", "volume_ratio", "critical"),
        ("marts__call_volume", "expect_column_values_to_be_between", "volume_ratio", "warning"),
    }
    assert [float(v) for v in collapse.critical_failures[0].partial_unexpected] == [0.04]

    set_kpis(world, kpi_days(latest_calls=15))  # 30%: doubtful
    dip = gate(["marts__call_volume"])
    assert dip.passed
    assert failures(dip) == {("marts__call_volume", "expect_column_values_to_be_between", "volume_ratio", "warning")}


def test_a_public_holiday_in_the_mart_calendar_is_not_judged(gate, world: Warehouse):
    """The volume band reads dbt's calendar (mart_kpi_daily.is_public_holiday): a holiday's
    collapse is expected, not a failure."""
    set_kpis(world, kpi_days(latest_calls=2, latest_is_holiday=True))
    holiday = gate(["marts__call_volume"])
    assert holiday.passed and failures(holiday) == set()
    (row,) = world.query("select is_holiday, volume_ratio from dq.marts__call_volume")
    assert row == (True, None)


def test_stale_data_blocks_and_late_data_warns(gate):
    stale = gate(["marts__freshness"], as_of=AS_OF + timedelta(days=4))  # newest call day 5 days old
    assert not stale.passed
    assert {(o.column, o.severity) for o in stale.critical_failures} == {("kpi_lag_days", "critical")}
    assert ("kpi_lag_days", "warning") in {(o.column, o.severity) for o in stale.warnings}

    late = gate(["marts__freshness"], as_of=AS_OF + timedelta(days=1))  # yesterday's file not in yet
    assert late.passed
    assert failures(late) == {("marts__freshness", "expect_column_values_to_be_between", "kpi_lag_days", "warning")}


def test_new_rows_scope_validates_what_was_loaded_since_the_last_passed_run(gate, world: Warehouse):
    assert gate(["raw_cti__calls"]).passed
    # a bad row loaded long before the last passed run was validated then: not re-read
    insert_calls(world, [call_row(41, outcome="exploded", _loaded_at=datetime.now(UTC) - timedelta(days=2))])
    assert gate(["raw_cti__calls"]).passed
    # a bad row loaded now is in the batch
    insert_calls(world, [call_row(42, outcome="exploded")])
    result = gate(["raw_cti__calls"])
    assert failures(result) == {("raw_cti__calls", "expect_column_values_to_be_in_set", "outcome", "critical")}
    assert result.critical_failures[0].unexpected_count == 1  # not 2: the old row is outside the window
    assert world.query("select row_key from meta.dq_quarantine where run_id = %s", (result.run_id,)) == [
        (f"{LATEST:%Y%m%d}00042",)
    ]


def record_batch(wh: Warehouse, batch_id: str) -> None:
    """The batch's row in meta.load_batches, as a loader writes it when the batch commits."""
    wh.execute(
        "insert into meta.load_batches (batch_id, source, object, started_at, finished_at) "
        "values (%s, 'cti', 'calls', now(), now()) on conflict (batch_id) do update set finished_at = now()",
        (batch_id,),
    )


def test_new_rows_scope_validates_each_recorded_batch_once_however_recent(gate, world: Warehouse):
    def day(n: int) -> datetime:  # the run of the n-th interval after AS_OF's
        return AS_OF + timedelta(days=n)

    assert gate(["raw_cti__calls"], as_of=day(0)).passed
    batch = "cti.calls:ingest_cti:scheduled__2026-03-12"
    insert_calls(world, [call_row(60 + i, _batch_id=batch) for i in range(3)])
    record_batch(world, batch)
    first = gate(["raw_cti__calls"], as_of=day(1))
    assert first.passed
    listed = world.query("select batch_id from meta.dq_run_batches where run_id = %s", (first.run_id,))
    assert (batch,) in listed
    # a bad row in that batch, loaded now, but the batch's record unchanged: the next interval's run
    # does not read it again (a load-time window would: the first daily after a backfill re-read it)
    insert_calls(world, [call_row(63, outcome="exploded", _batch_id=batch)])
    assert gate(["raw_cti__calls"], as_of=day(2)).passed
    # a re-run of the interval that validated it reads it again, as its first run did
    rerun = gate(["raw_cti__calls"], as_of=day(1))
    assert failures(rerun) == {("raw_cti__calls", "expect_column_values_to_be_in_set", "outcome", "critical")}
    # the load retried: its record written again, so a later run validates the batch again
    record_batch(world, batch)
    result = gate(["raw_cti__calls"], as_of=day(3))
    assert failures(result) == {("raw_cti__calls", "expect_column_values_to_be_in_set", "outcome", "critical")}
    assert result.critical_failures[0].unexpected_count == 1
    # a failed run validates nothing: the next run lists the batch again
    again = gate(["raw_cti__calls"], as_of=day(4))
    assert not again.passed
    assert (batch,) in world.query("select batch_id from meta.dq_run_batches where run_id = %s", (again.run_id,))


def test_gate_alert_names_the_failures_and_links_the_failing_suite_page():
    from cs_analytics.quality.tasks import gate_alert

    bad = Outcome(
        suite="raw_cti__calls",
        table="raw_cti.calls",
        expectation="expect_column_values_to_not_be_null",
        column="outcome",
        kwargs={"column": "outcome"},
        severity="critical",
        success=False,
        unexpected_count=3,
        element_count=40,
        unexpected_percent=7.5,
        quarantined_rows=3,
    )
    result = GateResult(
        run_id="r1",
        outcomes=[bad],
        data_docs="file:///x/index.html",
        suite_docs={"raw_cti__calls": "file:///x/validations/raw_cti__calls/r1/p.html"},
    )
    alert = gate_alert(result, "transform")
    assert alert.audience == "data_engineering" and alert.severity == "critical"
    assert alert.link == "file:///x/validations/raw_cti__calls/r1/p.html"
    assert alert.details == (
        "raw_cti__calls: expect_column_values_to_not_be_null(outcome) {} -> 3 unexpected of 40 (7.50%)",
    )


def test_task_fails_without_retry_and_alerts_data_engineering(world: Warehouse, tmp_path: Path, monkeypatch):
    """The Airflow callable: a critical failure raises an AirflowFailException (no retry,
    so the marts Asset is not updated) after delivering one data-engineering alert."""
    from airflow.sdk.exceptions import AirflowFailException

    from cs_analytics.quality import gate as gate_module
    from cs_analytics.quality import specs as specs_module
    from cs_analytics.quality import tasks as task_module

    insert_calls(world, [call_row(301, outcome=None)])
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", world.dsn)
    monkeypatch.setattr(specs_module, "load_suite_specs", lambda: load_suite_specs(only=["raw_cti__calls"]))
    real_run_gate = gate_module.run_gate
    monkeypatch.setattr(
        gate_module,
        "run_gate",
        lambda *a, **kw: real_run_gate(*a, **kw, context_root=tmp_path / "ctx", docs_dir=tmp_path / "docs"),
    )
    sent = []
    monkeypatch.setattr("cs_analytics.alerts.delivery.deliver", lambda alerts, wh, **kw: sent.extend(alerts))

    class Dag:
        dag_id = "transform"

    with pytest.raises(task_module.QualityGateFailed) as err:
        task_module.run_quality_gate({"run_id": "task_run_1", "dag": Dag(), "data_interval_end": AS_OF})

    assert isinstance(err.value, AirflowFailException)
    assert "expect_column_values_to_not_be_null(outcome)" in str(err.value)
    (alert,) = sent
    assert alert.audience == "data_engineering" and alert.severity == "critical"
    assert alert.link.startswith("file://") and "raw_cti__calls" in alert.link
    assert world.query("select passed from meta.dq_runs where run_id = 'task_run_1'") == [(False,)]
