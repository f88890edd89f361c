"""Injected faults, each followed by what Airflow's retry does (the task callable run again),
compared with a fault-free run of the same interval: no row lost, none duplicated, every alert
delivered exactly once. And two overlapping runs of one load leave what one run leaves."""

from __future__ import annotations

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

    # 30% of requests answer 500, the first two hang past the client's timeout, and the rate
    # limit is so low that most requests get a 429 (the retry waits advance the simulator's clock).
    server.faults.update({"error_rate": 0.3, "error_status": 500, "timeout_next": 2, "rate_limit_per_10s": 3})
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
