"""Injected faults, each followed by what Airflow's retry does (the task callable run again),
compared with a fault-free run of the same interval: no row lost, none duplicated, every alert
delivered exactly once. And two overlapping runs of one load leave what one run leaves."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import psycopg
import pytest

from cs_analytics.alerts import outbox
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.ingestion.crm import HubSpotClient, load_object
from cs_analytics.ingestion.cti import load_landing_folder
from cs_analytics.ingestion.erp import load_table
from cs_analytics.warehouse import Warehouse
from tests.integration.alerting import FAST, channels, sinks  # noqa: F401
from tests.integration.test_ingest_api import FUTURE, SETTINGS, N, crm, ctx, raw_state, session  # noqa: F401
from tests.integration.test_outbox import alert_messages
from tests.reliability.corpus import CORPUS
from tests.reliability.corpus import SETTINGS as CTI_SETTINGS
from tests.reliability.results import record_fault

pytestmark = pytest.mark.integration


@pytest.fixture
def reference(second_db_url) -> Warehouse:
    """The warehouse of the fault-free run."""
    return Warehouse(second_db_url)


def until_it_passes(load, attempts: int = 3):
    """Airflow's retries: the same callable again, up to `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return load(), attempt
        except Exception:
            if attempt == attempts:
                raise


def test_crm_500s_timeouts_and_a_429_storm_end_equal_to_a_fault_free_run(warehouse, reference, crm):  # noqa: F811
    server, url = crm
    end = FUTURE
    load_object(reference, HubSpotClient(session(url, server)), "contacts", ctx("contacts", "clean", end), SETTINGS)

    # 30% of requests answer 500 (at random: ~1 run in 100 drew none of its ~13, so one 500 is
    # certain), the first two hang past the client's timeout, and the rate limit is so low that
    # most requests get a 429 (the retry waits advance the simulator's clock).
    server.faults.update(
        {"error_rate": 0.3, "error_status": 500, "fail_next": 1, "timeout_next": 2, "rate_limit_per_10s": 3}
    )
    sleeps: list[float] = []
    client = HubSpotClient(session(url, server, timeout=1.0, sleeps=sleeps), page_size=20)
    result, attempts = until_it_passes(
        lambda: load_object(warehouse, client, "contacts", ctx("contacts", "faulty", end), SETTINGS)
    )
    server.faults.reset()
    stats = client.api.stats
    got, want = raw_state(warehouse, "raw_crm.contacts"), raw_state(reference, "raw_crm.contacts")
    record_fault("crm_500_timeout_429", source="crm", attempts=attempts, rows_expected=want[0], rows=got[0],
                 distinct=got[1], identical=got == want, detail=f"{stats.retries_5xx} x 500, {stats.retries_timeout} "
                 f"timeouts, {stats.rate_limited} x 429")  # fmt: skip
    assert stats.retries_5xx and stats.retries_timeout == 2 and stats.rate_limited, stats
    assert raw_state(warehouse, "raw_crm.contacts") == raw_state(reference, "raw_crm.contacts")
    assert raw_state(warehouse, "raw_crm.contacts")[0] == N


class DroppingConnection:
    """An ERP connection cut (its backend terminated) after `after` chunks of a COPY out, while the
    ERP still has cuts to make (`DroppingErp.drops`)."""

    def __init__(self, conn: psycopg.Connection, erp: DroppingErp, after: int):
        self._conn, self._erp, self._after = conn, erp, after
        self._killer_url = erp.killer_url

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def __enter__(self):
        self._conn.__enter__()
        return self

    def __exit__(self, *exc):
        return self._conn.__exit__(*exc)

    def cursor(self, *a, **k):
        real = self._conn.cursor(*a, **k)
        outer = self

        class Cursor:
            def __getattr__(self, name):
                return getattr(real, name)

            def __enter__(self):
                real.__enter__()
                return self

            def __exit__(self, *exc):
                return real.__exit__(*exc)

            def copy(self, statement):
                cm = real.copy(statement)

                class Copy:
                    def __enter__(self):
                        self.copy = cm.__enter__()
                        return self

                    def __exit__(self, *exc):
                        return cm.__exit__(*exc)

                    def __iter__(self):
                        for i, chunk in enumerate(self.copy):
                            if i == outer._after and outer._erp.drops:
                                outer._erp.drops -= 1
                                with psycopg.connect(outer._killer_url, autocommit=True) as k:
                                    k.execute("select pg_terminate_backend(%s)", (outer._conn.info.backend_pid,))
                            yield chunk

                return Copy()

        return Cursor()


class DroppingErp(Warehouse):
    def __init__(self, dsn: str, killer_url: str, drops: int):
        super().__init__(dsn)
        self.killer_url, self.drops = killer_url, drops

    def connect(self, autocommit: bool = False):
        return DroppingConnection(super().connect(autocommit), self, after=300)


def test_erp_connection_dropped_mid_read_then_retried_equals_a_fault_free_run(warehouse, reference, server_url):
    from tests.conftest import throwaway_database
    from tests.reliability.corpus import SAGE_DDL

    with throwaway_database(server_url, "erp_drop") as erp_url:
        with psycopg.connect(erp_url, autocommit=True) as conn:
            conn.execute(SAGE_DDL)
            conn.execute(
                'insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", '
                "\"cbModification\") select 'CL' || lpad(i::text, 6, '0'), 'Client ' || i, '0478', 'x@y.fr', 0, "
                "timestamp '2025-05-01' + i * interval '1 minute' from generate_series(10, 2009) i"
            )
        end = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
        load_table(
            reference,
            Warehouse(erp_url),
            "F_COMPTET",
            BatchContext("erp", "F_COMPTET", "ingest_erp", "clean", None, end),
            SETTINGS,
        )
        erp = DroppingErp(erp_url, server_url, drops=1)
        result, attempts = until_it_passes(
            lambda: load_table(
                warehouse,
                erp,
                "F_COMPTET",
                BatchContext("erp", "F_COMPTET", "ingest_erp", "faulty", None, end),
                SETTINGS,
            )
        )
        checksum = (
            "select count(*), md5(string_agg(ct_num || ct_intitule || cbmodification::text, ',' order by ct_num)), "
            "count(distinct ct_num) from raw_erp.f_comptet"
        )
        got, want = warehouse.query(checksum)[0], reference.query(checksum)[0]
        record_fault("erp_connection_dropped", source="erp", attempts=attempts, rows_expected=want[0], rows=got[0],
                     distinct=got[2], identical=got == want, detail="ERP backend terminated mid-COPY, task retried")  # fmt: skip
    assert attempts == 2  # the first attempt died with its connection and committed nothing
    assert got == want
    assert got[0] == 2003
    assert warehouse.query("select count(*) from meta.load_batches")[0][0] == 1


def _deliver_until_sent(warehouse, chans) -> int:
    """What the next runs do: deliver what is due, time passing between them (the backoff)."""
    runs = 0
    while warehouse.query("select count(*) from meta.outbox where status = 'pending'")[0][0] and runs < 5:
        warehouse.execute("update meta.outbox set next_attempt_at = now() where status = 'pending'")
        outbox.deliver_pending(warehouse, chans, settings=FAST)
        runs += 1
    return runs


def _slack_posts(received) -> list[dict]:
    """The alert posts in the channel (each alert's chart goes in its thread)."""
    return [m for m in received.slack("#service-client-alertes") if not m.get("thread_ts")]


def test_smtp_down_then_up_delivers_each_alert_exactly_once(warehouse, sinks):  # noqa: F811
    chans = channels(warehouse)
    sinks.stop_smtp()
    first = outbox.send_now(warehouse, alert_messages(), chans, settings=FAST.__class__(
        retry_base_s=60, retry_cap_s=60, max_attempts=4, wait_budget_s=0))  # fmt: skip
    assert first.total_sent == 1 and len(first.retrying) == 1  # Slack went out, the e-mail waits
    sinks.start_smtp()
    runs = _deliver_until_sent(warehouse, chans)
    outbox.send_now(warehouse, alert_messages(), chans, settings=FAST)  # a re-run of the alerts DAG
    record_fault("smtp_down", source="alerts", attempts=1 + runs, alerts_expected=2,
                 emails=len(sinks.mails()), slack=len(_slack_posts(sinks)),
                 detail="SMTP refused, delivery retried from the outbox, then re-run")  # fmt: skip
    assert len(sinks.mails()) == 1 and len(_slack_posts(sinks)) == 1
    assert warehouse.query("select count(*), bool_and(status = 'sent') from meta.outbox") == [(2, True)]


def test_slack_answering_500_then_ok_delivers_each_alert_exactly_once(warehouse, sinks):  # noqa: F811
    chans = channels(warehouse)
    sinks.slack_faults(fail_next=10, error_status=500)
    first = outbox.send_now(warehouse, alert_messages(), chans, settings=FAST.__class__(
        retry_base_s=60, retry_cap_s=60, max_attempts=12, wait_budget_s=0))  # fmt: skip
    assert first.total_sent == 1 and any("500" in r for r in first.retrying)  # the e-mail went out, Slack waits
    sinks.slack_faults(fail_next=0)
    runs = _deliver_until_sent(warehouse, chans)
    outbox.send_now(warehouse, alert_messages(), chans, settings=FAST)  # a re-run of the alerts DAG
    record_fault("slack_500", source="alerts", attempts=1 + runs, alerts_expected=2,
                 emails=len(sinks.mails()), slack=len(_slack_posts(sinks)),
                 detail="Slack API answered 500, delivery retried from the outbox, then re-run")  # fmt: skip
    assert len(sinks.mails()) == 1
    assert len(_slack_posts(sinks)) == 1
    assert warehouse.query("select count(*), bool_and(status = 'sent') from meta.outbox") == [(2, True)]


def test_two_overlapping_runs_of_the_cti_load_leave_what_one_run_leaves(warehouse, reference, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("cdr_20250110.csv", "cdr_20250111.csv", "cdr_20250117.csv", "cdr_20251026.csv"):
        (landing / name).write_bytes((CORPUS / "cti" / name).read_bytes())
    load_landing_folder(reference, landing, BatchContext("cti", "calls", "ingest_cti", "single"), CTI_SETTINGS)

    errors: list[Exception] = []

    def run(run_id: str) -> None:
        try:
            load_landing_folder(warehouse, landing, BatchContext("cti", "calls", "ingest_cti", run_id), CTI_SETTINGS)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in ("scheduled", "manual")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = (
        "select count(*), md5(string_agg(call_id || started_at::text || _file_name, ',' order by call_id)), "
        "count(distinct (_file_date, call_id)) from raw_cti.calls"
    )
    got, want = warehouse.query(state)[0], reference.query(state)[0]
    record_fault("cti_two_overlapping_runs", source="cti", attempts=1, rows_expected=want[0], rows=got[0],
                 distinct=got[2], identical=got == want,
                 detail=f"two runs raced; {len(errors)} of them failed: {[type(e).__name__ for e in errors]}")  # fmt: skip
    assert not errors, errors  # the second run waited for the first, then found the files processed
    assert got == want
    q = "select count(*), count(distinct location) from meta.quarantine where resolved_at is null"
    assert warehouse.query(q) == reference.query(q)
    files = "select file_name from meta.cti_files order by 1"
    assert warehouse.query(files) == reference.query(files), errors


def test_cti_file_cut_mid_write_loaded_then_completed_equals_a_fault_free_run(warehouse, reference, tmp_path):
    from datetime import timedelta

    full = (CORPUS / "cti" / "cdr_20250117.csv").read_bytes().split(b"\n")
    full = b"\n".join(full[:3]) + b"\n"  # header and two calls
    clean, faulty = tmp_path / "clean", tmp_path / "faulty"
    clean.mkdir(), faulty.mkdir()
    (clean / "cdr_20250117.csv").write_bytes(full)
    load_landing_folder(reference, clean, BatchContext("cti", "calls", "ingest_cti", "clean"), CTI_SETTINGS)

    # The writer dies mid-line; the file waits out CTI_PARTIAL_FILE_WAIT (0 here), loads with its cut
    # line quarantined; the complete file is delivered later under the same name.
    (faulty / "cdr_20250117.csv").write_bytes(full[:-25])
    load_landing_folder(warehouse, faulty, BatchContext("cti", "calls", "ingest_cti", "night1"), CTI_SETTINGS)
    cut = warehouse.query("select count(*) from raw_cti.calls")[0][0]
    (faulty / "cdr_20250117.csv").write_bytes(full)
    load_landing_folder(warehouse, faulty, BatchContext("cti", "calls", "ingest_cti", "night2"), CTI_SETTINGS)

    state = (
        "select count(*), md5(string_agg(call_id || started_at::text, ',' order by call_id)), "
        "count(distinct call_id) from raw_cti.calls"
    )
    got, want = warehouse.query(state)[0], reference.query(state)[0]
    open_q = warehouse.query("select count(*) from meta.quarantine where resolved_at is null")[0][0]
    record_fault("cti_truncated_then_completed", source="cti", attempts=2, rows_expected=want[0], rows=got[0],
                 distinct=got[2], identical=got == want and open_q == 0,
                 detail=f"cut file loaded {cut} row(s) + 1 quarantined, then the complete file replaced the day")  # fmt: skip
    assert cut == 1 and got == want and open_q == 0
    assert timedelta(0) == CTI_SETTINGS.cti_partial_file_wait


@pytest.mark.reliability  # ~30 s, mostly HubSpot's Retry-After waits: make test-reliability
def test_crm_refusing_task_creation_then_accepting_creates_each_task_once(warehouse, sinks, monkeypatch):  # noqa: F811
    """HubSpot answers 503 (and one hang past the client's timeout) to every task creation for two
    runs, then 500-free but rate limited (a 429 with Retry-After): the outbox keeps each message and
    delivers it exactly once; a task HubSpot refuses for good (400 INVALID_OWNER_ID: an owner who left)
    ends 'failed' with HubSpot's reason and is not tried again."""
    from dataclasses import replace

    from cs_analytics.alerts.channels.crm import reference_token
    from cs_analytics.alerts.messages import OutboxMessage
    from tests.integration.alerting import OWNERS
    from tests.integration.test_outbox import crm_task

    monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "2")
    chans = channels(warehouse)
    later = replace(FAST, retry_base_s=60, retry_cap_s=60, max_attempts=6, wait_budget_s=0)
    good = [OutboxMessage.create(f"vip_dissatisfied:{i}", "crm_task", o, crm_task(o)) for i, o in enumerate(OWNERS)]
    gone = OutboxMessage.create("vip_dissatisfied:9", "crm_task", "999", crm_task(owner="999"))
    messages = [*good, gone]

    sinks.crm_faults(fail_next=1000, error_status=503, timeout_next=1)
    first = outbox.send_now(warehouse, messages, chans, settings=later)
    sinks.crm_faults(error_status=500)  # still refusing at the next run
    warehouse.execute("update meta.outbox set next_attempt_at = now() where status = 'pending'")
    second = outbox.deliver_pending(warehouse, chans, settings=later)
    refused = requests_served(sinks)
    assert first.total_sent == second.total_sent == 0 and len(first.retrying) == len(second.retrying) == 4
    assert not sinks.crm_tasks()

    sinks.crm_faults(fail_next=0, rate_limit_per_10s=3)  # the outage ends; HubSpot's 10-second limit bites
    runs = _deliver_until_sent(warehouse, chans)
    rerun = outbox.send_now(warehouse, messages, chans, settings=FAST)  # a re-run of the alerts DAG
    served = requests_served(sinks)

    tasks = sinks.crm_tasks()
    by_reference = {m.key: [t["id"] for t in tasks if reference_token(m.key) in t["hs_task_body"]] for m in messages}
    outcome = {k: (s, a, e) for k, s, a, e in warehouse.query(
        "select message_key, status, attempts, last_error from meta.outbox")}  # fmt: skip
    record_fault("crm_refusing_task_creation", source="alerts", attempts=2 + runs, alerts_expected=len(good),
                 crm_tasks=len(tasks), tasks_per_message=[len(v) for v in by_reference.values()],
                 detail=f"{refused['5xx']} x 5xx and {refused['hangs']} timeout on task creation over two runs, "
                 f"then {served['429'] - refused['429']} x 429; a 400 (owner gone) failed for good",
                 emails=0, slack=0)  # fmt: skip
    assert rerun.total_sent == 0 and not rerun.failed
    assert [len(by_reference[m.key]) for m in good] == [1, 1, 1] and not by_reference[gone.key]
    assert len(tasks) == 3 and served["429"] >= 1
    assert all(outcome[m.key][0] == "sent" for m in good)
    status, attempts, error = outcome[gone.key]
    assert status == "failed" and "400" in error and "999 is not a valid owner id" in error, outcome[gone.key]
    assert attempts == 3  # two refusals during the outage, then the 400: not retried after it
    outbox.deliver_pending(warehouse, chans, settings=FAST)
    assert warehouse.query("select attempts from meta.outbox where message_key = %s", (gone.key,))[0][0] == 3


def requests_served(sinks) -> dict[str, int]:  # noqa: F811
    """The CRM simulator's counters: 5xx answered, 429s, hangs."""
    stats = sinks.crm_server.stats.snapshot()
    return {"5xx": stats["server_errors"], "429": stats["rate_limited"], "hangs": stats["timeouts"]}


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of the test's own (the shared one serves the other tests), to crash and
    restart under a load: (its URL, a function that crashes it and starts it again)."""
    import shutil
    import socket
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from scripts.stack import _as_pg_user, find_pg_bin

    base = Path(tempfile.mkdtemp(prefix="csa-restart-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres"), shutil.chown(sock, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def pg(*args: str) -> None:
        subprocess.run(_as_pg_user([find_pg_bin(args[0]) or args[0], *args[1:]]), check=True, capture_output=True)

    def start() -> None:
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
        pg("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l", str(base / "log"), "-o", opts)

    pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8")
    start()

    def crash_and_restart(down_s: float = 1.0) -> None:
        pg("pg_ctl", "stop", "-m", "immediate", "-D", str(data))  # no shutdown checkpoint: a crash
        time.sleep(down_s)
        start()  # crash recovery replays the WAL

    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", crash_and_restart
    finally:
        subprocess.run(_as_pg_user([find_pg_bin("pg_ctl") or "pg_ctl", "stop", "-m", "immediate", "-D", str(data)]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def test_warehouse_crashed_and_restarted_mid_load_then_retried_equals_a_fault_free_run(
    reference, server_url, own_cluster
):
    import time

    from tests.conftest import throwaway_database
    from tests.reliability.corpus import SAGE_DDL

    wh_url, crash_and_restart = own_cluster
    warehouse = Warehouse(wh_url)
    rows = 100_000
    with throwaway_database(server_url, "erp_restart") as erp_url:
        with psycopg.connect(erp_url, autocommit=True) as conn:
            conn.execute(SAGE_DDL)
            conn.execute(
                'insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", '
                "\"cbModification\") select 'CL' || lpad(i::text, 7, '0'), 'Client ' || i, '0478', 'x@y.fr', 0, "
                f"timestamp '2025-05-01' + i * interval '1 second' from generate_series(1, {rows}) i"
            )
        end = datetime(2025, 6, 1, 22, 0, tzinfo=UTC)
        erp = Warehouse(erp_url)
        in_erp = erp.query('select count(*) from dbo."F_COMPTET"')[0][0]

        def load(run: str, wh: Warehouse):
            return load_table(wh, erp, "F_COMPTET", BatchContext("erp", "F_COMPTET", "ingest_erp", run, None, end),
                              SETTINGS)  # fmt: skip

        load("clean", reference)

        # Crash the warehouse as soon as the load's COPY into it has written rows, then start it again.
        seen: list[int] = []

        def crash_mid_copy() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not seen:
                try:
                    with psycopg.connect(wh_url, autocommit=True, connect_timeout=2) as c:
                        while not seen and time.monotonic() < deadline:
                            copied = c.execute("select tuples_processed from pg_stat_progress_copy "
                                               "where command = 'COPY FROM' and tuples_processed > 0").fetchone()  # fmt: skip
                            if copied:
                                seen.append(copied[0])
                            else:
                                time.sleep(0.01)
                except psycopg.OperationalError:
                    time.sleep(0.05)
            if seen:
                crash_and_restart()

        crasher = threading.Thread(target=crash_mid_copy)
        crasher.start()
        errors: list[str] = []

        def attempt():
            try:
                return load("faulty", warehouse)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                crasher.join()  # Airflow's retry_delay: the next try comes after the restart
                raise

        result, attempts = until_it_passes(attempt, attempts=3)
        crasher.join()
    checksum = (
        "select count(*), md5(string_agg(ct_num || ct_intitule || cbmodification::text, ',' order by ct_num)), "
        "count(distinct ct_num) from raw_erp.f_comptet"
    )
    got, want = warehouse.query(checksum)[0], reference.query(checksum)[0]
    batches = warehouse.query("select count(*) from meta.load_batches")[0][0]
    record_fault("warehouse_crashed_mid_load", source="erp", attempts=attempts, rows_expected=want[0], rows=got[0],
                 distinct=got[2], identical=got == want,
                 detail=f"PostgreSQL killed (pg_ctl stop -m immediate) after {seen[0] if seen else 0} of {rows} rows "
                 f"COPYed into the warehouse, restarted, task retried")  # fmt: skip
    assert seen and 0 < seen[0] < rows, seen  # the crash came mid-COPY
    assert attempts == 2 and errors, errors  # the first attempt died with the server and committed nothing
    assert got == want and got[0] == in_erp
    assert batches == 1
    assert warehouse.query("select bool_and(matches) from meta.source_reconciliation")[0][0]
