"""Portal analytics (GA4 Data API) and shared mailbox (Microsoft Graph) ingestion against their
simulators served in-process and the real warehouse: paging, revisions of recent days, the delta
query with moves and deletions, throttling, credentials, source totals, idempotent re-runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from cs_analytics.config import IngestSettings
from cs_analytics.ingestion import mailbox, portal_analytics
from cs_analytics.ingestion.batch import BatchContext, SourceDataMissing
from cs_analytics.ingestion.http_client import RetryPolicy, SourceAuthError
from cs_analytics.ingestion.oauth import ClientCredentials, GoogleServiceAccount, OAuthApiSession
from cs_analytics.ingestion.portal_analytics import Ga4Client, Ga4Session, SourceQuotaExhausted
from simulators import ga4_api, graph_api
from simulators.httpbase import serve_in_thread

pytestmark = pytest.mark.integration

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2026, 3, 10)  # the day the runs cover; GA4 still processes it and the two before
PATHS = ("/", "/contact", "/rendez-vous", "/rendez-vous/confirmation", "/tarifs")
SETTINGS = IngestSettings(quarantine_max_rate=1.0)
SECRET = "graph-test-secret"
MAILBOX = "service-client@service-client.local"
N_MESSAGES = 45


def paris_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), PARIS).astimezone(UTC)


def ga4_ctx(report: str, run: str, day: date = DAY, first_run: bool = False) -> BatchContext:
    start = None if first_run else paris_midnight(day)
    return BatchContext(
        "portal_analytics", report, "ingest_portal_analytics", run, start, paris_midnight(day + timedelta(days=1))
    )


def traffic(days: int = 20) -> list[tuple]:
    rows = []
    for k in range(days):
        day = (DAY - timedelta(days=days - 1 - k)).strftime("%Y%m%d")
        for j, path in enumerate(PATHS):
            rows.append((day, path, 10 + j + k, 14 + j + k, 300 + 7 * k, int(path.endswith("confirmation"))))
        rows.append((day, "", 40 + k, 70 + k, 1500 + 35 * k, 1))
    return rows


@pytest.fixture
def ga4(tmp_path) -> Iterator[tuple[ga4_api.Ga4Server, str, Path]]:
    store = tmp_path / "ga4.sqlite"
    ga4_api.write_store(store, ga4_api.PROPERTY_ID, paris_midnight(DAY + timedelta(days=1)), traffic())
    server = ga4_api.make_server(store_path=store, key_path=tmp_path / "key.json")
    with serve_in_thread(server) as url:
        yield server, url, tmp_path / "key.json"


def ga4_client(server, url: str, key_path: Path, page_size: int = 1000, sleeps: list | None = None,
               http: requests.Session | None = None) -> Ga4Client:  # fmt: skip
    def fake_sleep(seconds: float) -> None:  # waits advance the simulator's clock instead of sleeping
        server.clock_skew += seconds
        if sleeps is not None:
            sleeps.append(seconds)

    key = {**GoogleServiceAccount.from_file("portal_analytics_api", key_path).key, "token_uri": f"{url}/token"}
    retry = RetryPolicy(max_retries=3, sleep=fake_sleep)
    tokens = GoogleServiceAccount("portal_analytics_api", key, retry=retry)
    return Ga4Client(Ga4Session("portal_analytics_api", url, tokens, 5.0, retry, http), ga4_api.PROPERTY_ID, page_size)


def raw_checksum(warehouse, table: str) -> tuple:
    return warehouse.query(f"select count(*), md5(string_agg(_record_hash, ',' order by _record_hash)) from {table}")[0]


def test_ga4_pages_on_a_stable_order_up_to_row_count(warehouse, ga4):
    server, url, key = ga4
    client = ga4_client(server, url, key, page_size=7)
    result = portal_analytics.load_report(
        warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1", first_run=True), SETTINGS
    )
    assert result.rows_inserted == 20 * len(PATHS) == result.detail["row_count"]
    assert result.detail["pages"] == -(-result.rows_inserted // 7)
    dates = warehouse.query(
        "select min(report_date), max(report_date), count(distinct page_path) from raw_portal.page_traffic"
    )[0]
    assert dates == (DAY - timedelta(days=19), DAY, len(PATHS))
    # The `date` dimension came as YYYYMMDD and each row's payload is kept as served.
    payload = warehouse.query("select payload #>> '{dimensions,date}' from raw_portal.page_traffic limit 1")[0][0]
    assert len(payload) == 8 and payload.isdigit()


def test_ga4_revised_days_are_updated_in_place_never_duplicated(warehouse, ga4):
    server, url, key = ga4
    client = ga4_client(server, url, key)
    portal_analytics.load_report(
        warehouse, client, "daily_traffic", ga4_ctx("daily_traffic", "r1", first_run=True), SETTINGS
    )
    provisional = dict(warehouse.query("select report_date, sessions from raw_portal.daily_traffic"))
    finals = {date(int(d[:4]), int(d[4:6]), int(d[6:])): s for d, p, s, *_ in traffic() if p == ""}
    still_processed = {d for d in finals if provisional[d] != finals[d]}
    assert DAY in still_processed and still_processed <= {DAY - timedelta(days=k) for k in range(3)}
    assert all(provisional[d] < finals[d] for d in still_processed), "GA4 still processes the last days"

    # Days later GA4 has finished them; the next run re-reads its trailing window.
    server.data_clock_hours = 96
    result = portal_analytics.load_report(
        warehouse, client, "daily_traffic", ga4_ctx("daily_traffic", "r2", DAY + timedelta(days=1)), SETTINGS
    )
    revised = dict(warehouse.query("select report_date, sessions from raw_portal.daily_traffic"))
    assert revised == finals and result.rows_inserted == 0 and result.rows_updated == len(still_processed)
    counts = dict(warehouse.query("select _revision, count(*) from raw_portal.daily_traffic group by 1"))
    assert counts == {0: 20 - len(still_processed), 1: len(still_processed)}
    # Re-running either interval changes nothing.
    before = raw_checksum(warehouse, "raw_portal.daily_traffic")
    for run, day in (("r2", DAY + timedelta(days=1)), ("r1", DAY)):
        again = portal_analytics.load_report(
            warehouse, client, "daily_traffic", ga4_ctx("daily_traffic", run, day), SETTINGS
        )
        assert again.rows_inserted == again.rows_updated == 0
    assert raw_checksum(warehouse, "raw_portal.daily_traffic") == before


def test_ga4_hourly_token_quota_fails_at_once_and_commits_nothing(warehouse, ga4):
    server, url, key = ga4
    server.faults.update({"tokens_per_hour": 3})
    client = ga4_client(server, url, key, page_size=10)
    with pytest.raises(SourceQuotaExhausted, match=r"portal_analytics_api.*tokens per hour"):
        portal_analytics.load_report(
            warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1", first_run=True), SETTINGS
        )
    assert warehouse.query("select count(*) from raw_portal.page_traffic")[0][0] == 0
    assert warehouse.query("select count(watermark) from meta.watermarks where object = 'page_traffic'")[0][0] == 0
    # Next hour (the task's retry): the whole report loads.
    server.clock_skew += 3600
    server.faults.update({"tokens_per_hour": 1000})
    result = portal_analytics.load_report(
        warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1", first_run=True), SETTINGS
    )
    assert result.rows_inserted == 20 * len(PATHS)


def test_ga4_server_errors_are_retried_and_an_expired_token_renewed_once(warehouse, ga4):
    server, url, key = ga4
    client = ga4_client(server, url, key, page_size=30)
    portal_analytics.load_report(
        warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1", first_run=True), SETTINGS
    )
    server.faults.update({"fail_next": 2, "error_status": 503})
    portal_analytics.load_report(warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1"), SETTINGS)
    assert client.api.stats.retries_5xx == 2 and client.api.tokens.fetched == 1
    # The server's clock passes the token's lifetime while the client still trusts it: one 401, one renewal.
    server.clock_skew += 7200
    portal_analytics.load_report(warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r2"), SETTINGS)
    assert client.api.tokens.fetched == 2


def test_ga4_a_foreign_key_or_property_fails_naming_the_connection(warehouse, ga4, tmp_path):
    server, url, key = ga4
    stranger = tmp_path / "other" / "key.json"
    ga4_api.ensure_service_account(stranger, f"{url}/token", client_email=server.service_account["client_email"])
    with pytest.raises(SourceAuthError, match=r"token endpoint.*'portal_analytics_api'.*Invalid JWT Signature"):
        portal_analytics.load_report(warehouse, ga4_client(server, url, stranger), "daily_traffic",
                                     ga4_ctx("daily_traffic", "r1"), SETTINGS)  # fmt: skip
    client = ga4_client(server, url, key)
    client.property_id = "999"
    with pytest.raises(SourceAuthError, match=r"403 .*'portal_analytics_api'.*sufficient permissions"):
        portal_analytics.load_report(warehouse, client, "daily_traffic", ga4_ctx("daily_traffic", "r1"), SETTINGS)


class DroppingRows(requests.Session):
    """A proxy that loses the report's rows but passes rowCount through, as a broken hop would."""

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        if ":runReport" in url and resp.ok:
            body = resp.json()
            body.pop("rows", None)
            resp._content = json.dumps(body).encode()
        return resp


def test_ga4_zero_rows_while_the_report_counts_some_fails(warehouse, ga4):
    server, url, key = ga4
    client = ga4_client(server, url, key, http=DroppingRows())
    with pytest.raises(SourceDataMissing, match=r"returned 0 rows but rowCount says 100"):
        portal_analytics.load_report(
            warehouse, client, "page_traffic", ga4_ctx("page_traffic", "r1", first_run=True), SETTINGS
        )
    # A property without any data for the window (wrong property, tag removed) fails too.
    ga4_api.write_store(server.store_path, ga4_api.PROPERTY_ID, paris_midnight(DAY + timedelta(days=1)), [])
    with pytest.raises(SourceDataMissing, match=r"no daily_traffic data at all"):
        portal_analytics.load_report(warehouse, ga4_client(server, url, key), "daily_traffic",
                                     ga4_ctx("daily_traffic", "r1"), SETTINGS)  # fmt: skip
    assert warehouse.query("select count(*) from raw_portal.daily_traffic")[0][0] == 0


def test_ga4_row_parsing_names_what_is_wrong():
    good = {
        "dimensions": {"date": "20260310", "pagePath": "/"},
        "metrics": dict.fromkeys(portal_analytics.METRICS, "3"),
    }
    assert portal_analytics.parse_row(good, ("date", "pagePath"))[:3] == (date(2026, 3, 10), "/", 3)
    with pytest.raises(ValueError, match="not YYYYMMDD"):
        portal_analytics.parse_row(
            {**good, "dimensions": {"date": "2026-03-10", "pagePath": "/"}}, ("date", "pagePath")
        )
    with pytest.raises(ValueError, match="keyEvents = 'n/a' is not a number"):
        portal_analytics.parse_row({**good, "metrics": {**good["metrics"], "keyEvents": "n/a"}}, ("date", "pagePath"))


# --------------------------------------------------------------------------- the shared mailbox
def message(i: int, received: datetime | None = None) -> dict:
    received = received or datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=37 * i)
    text = received.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"AAMkADmsg{i:04d}", "createdDateTime": text, "lastModifiedDateTime": text, "changeKey": "x",
        "categories": [], "receivedDateTime": text, "sentDateTime": text, "hasAttachments": False,
        "internetMessageId": f"<m{i}@example.fr>", "subject": f"Demande n°{i}", "bodyPreview": "Bonjour",
        "importance": "normal", "parentFolderId": "inbox", "conversationId": f"AAQkADconv{i}", "isRead": False,
        "isDraft": False, "inferenceClassification": "focused", "flag": {"flagStatus": "notFlagged"},
        "from": {"emailAddress": {"name": f"Client {i}", "address": f"Client.{i}@Example.fr"}},
        "sender": {"emailAddress": {"name": f"Client {i}", "address": f"client.{i}@example.fr"}},
        "toRecipients": [{"emailAddress": {"name": "Service client", "address": MAILBOX}}],
    }  # fmt: skip


@pytest.fixture
def graph(tmp_path) -> Iterator[tuple[graph_api.GraphServer, str]]:
    store = tmp_path / "mailbox.sqlite"
    rows = [{"seq": i + 1, "folder": "inbox", "payload": message(i)} for i in range(N_MESSAGES)]
    graph_api.write_store(store, MAILBOX, "Service client", rows, [])
    server = graph_api.make_server(store_path=store, client_secret=SECRET, rate_limit_per_10min=0)
    with serve_in_thread(server) as url:
        yield server, url


def mail_client(server, url: str, secret: str = SECRET, sleeps: list | None = None,
                http: requests.Session | None = None) -> mailbox.GraphMailClient:  # fmt: skip
    def fake_sleep(seconds: float) -> None:
        server.clock_skew += seconds
        if sleeps is not None:
            sleeps.append(seconds)

    retry = RetryPolicy(max_retries=3, sleep=fake_sleep)
    tokens = ClientCredentials("mailbox_api", url, graph_api.TENANT_ID, graph_api.CLIENT_ID, secret, retry=retry)
    return mailbox.GraphMailClient(OAuthApiSession("mailbox_api", url, tokens, 5.0, retry, http), MAILBOX, page_size=10)


def mail_ctx(run: str) -> BatchContext:
    return BatchContext(
        "mailbox", "messages", "ingest_mailbox", run, paris_midnight(DAY), paris_midnight(DAY + timedelta(days=1))
    )


def sim(url: str, action: str, body: dict) -> dict:
    resp = requests.post(f"{url}/_sim/{action}", json=body, timeout=5)
    resp.raise_for_status()
    return resp.json()


def test_graph_delta_pages_then_a_rerun_changes_nothing(warehouse, graph):
    server, url = graph
    client = mail_client(server, url)
    first = mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    assert first.rows_inserted == N_MESSAGES and first.detail["pages"] == 5  # 10 a page, the last with the deltaLink
    before = raw_checksum(warehouse, mailbox.TABLE)
    for run in ("r1", "r2"):
        again = mailbox.load_messages(warehouse, client, mail_ctx(run), SETTINGS)
        assert again.rows_read == 0 and again.rows_inserted == again.rows_updated == 0
    assert raw_checksum(warehouse, mailbox.TABLE) == before
    assert (
        warehouse.query(f"select count(*) from {mailbox.TABLE} where payload ->> 'subject' like 'Demande%%'")[0][0]
        == N_MESSAGES
    )


def test_graph_delta_applies_handling_moves_and_deletions_keeping_the_last_version(warehouse, graph):
    server, url = graph
    client = mail_client(server, url)
    mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    completed = {"dateTime": "2026-03-02T09:30:00.0000000", "timeZone": "UTC"}
    sim(url, "messages/update", {"ids": ["AAMkADmsg0001"], "set": {"flag": {"flagStatus": "complete", "completedDateTime": completed}, "categories": ["Traité"], "isRead": True}})  # fmt: skip
    sim(url, "messages/move", {"ids": ["AAMkADmsg0002"], "folder": "junkemail"})
    sim(url, "messages/move", {"ids": ["AAMkADmsg0003"], "folder": "deleteditems"})
    sim(url, "messages/deliver", {"messages": [message(900)]})
    result = mailbox.load_messages(warehouse, client, mail_ctx("r2"), SETTINGS)
    assert (result.rows_inserted, result.rows_updated, result.detail["removed"]) == (1, 3, 2)
    rows = {r[0]: r[1:] for r in warehouse.query(
        f"select id, is_removed, removed_reason, payload ->> 'subject', payload #>> '{{flag,flagStatus}}' from {mailbox.TABLE} "
        "where id in ('AAMkADmsg0001', 'AAMkADmsg0002', 'AAMkADmsg0003', 'AAMkADmsg0900')"
    )}  # fmt: skip
    assert rows["AAMkADmsg0001"] == (False, None, "Demande n°1", "complete")
    assert rows["AAMkADmsg0002"] == (True, "deleted", "Demande n°2", "notFlagged"), "a removed message keeps its data"
    assert rows["AAMkADmsg0003"][:3] == (True, "deleted", "Demande n°3")
    assert rows["AAMkADmsg0900"] == (False, None, "Demande n°900", "notFlagged")


class FirstPageSession(requests.Session):
    """Calls `act(first_page_response)` once the first delta page is served: a change on the server
    while the round is paging."""

    def __init__(self, act):
        super().__init__()
        self.act, self.pages = act, 0

    def request(self, method, url, *args, **kwargs):
        resp = super().request(method, url, *args, **kwargs)
        if "/messages/delta" in url:
            self.pages += 1
            if self.pages == 1:
                self.act(resp)
        return resp


def test_graph_message_changed_during_a_round_is_kept_once_in_its_latest_version(warehouse, graph):
    server, url = graph
    handled = FirstPageSession(
        lambda _: sim(url, "messages/update", {"ids": ["AAMkADmsg0004"], "set": {"categories": ["Traité"]}})
    )
    client = mail_client(server, url, http=handled)
    result = mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    assert result.rows_read == N_MESSAGES + 1  # served twice in the round
    count, categories = warehouse.query(
        f"select count(*), max(payload ->> 'categories') filter (where id = 'AAMkADmsg0004') from {mailbox.TABLE}"
    )[0]
    assert count == N_MESSAGES and categories == '["Traité"]'


def test_graph_message_deleted_during_a_round_is_not_loaded(warehouse, graph):
    # The round is streamed to the warehouse page by page: a removal served after the message's new
    # version in the same round must still win over it.
    server, url = graph
    mailbox.load_messages(warehouse, mail_client(server, url), mail_ctx("r1"), SETTINGS)
    changed = [f"AAMkADmsg{i:04d}" for i in range(25)]
    sim(url, "messages/update", {"ids": changed, "set": {"categories": ["Traité"]}})
    deleting = FirstPageSession(  # deletes a message the first page already served
        lambda resp: sim(url, "messages/move", {"ids": [resp.json()["value"][0]["id"]], "folder": "deleteditems"})
    )
    result = mailbox.load_messages(warehouse, mail_client(server, url, http=deleting), mail_ctx("r2"), SETTINGS)
    gone = warehouse.query(f"select id from {mailbox.TABLE} where is_removed")
    assert [g[0] for g in gone] == changed[:1] and result.detail["removed"] == 1
    assert result.rows_read == len(changed) + 1 and result.rows_updated == len(changed)  # 24 new versions + 1 removal
    assert result.detail["inbox_total_items"] == result.detail["loaded_live_messages"] == N_MESSAGES - 1


def test_graph_throttling_waits_what_retry_after_says(warehouse, graph):
    server, url = graph
    server.faults.update({"rate_limit_per_10min": 3})
    sleeps: list[float] = []
    client = mail_client(server, url, sleeps=sleeps)
    result = mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    assert result.rows_inserted == N_MESSAGES
    assert server.stats.snapshot()["rate_limited"] >= 1 and client.api.stats.rate_limited >= 1
    # Every wait is the server's Retry-After (capped at 120 s), not a guess.
    assert sleeps and all(1 <= s <= 120 and s == int(s) for s in sleeps)


def test_graph_refused_secret_fails_at_once_naming_the_connection(warehouse, graph):
    server, url = graph
    with pytest.raises(SourceAuthError, match=r"401 .*'mailbox_api'.*AIRFLOW_CONN_MAILBOX_API.*AADSTS7000215"):
        mailbox.load_messages(warehouse, mail_client(server, url, secret="wrong"), mail_ctx("r1"), SETTINGS)
    assert server.stats.snapshot()["requests"] == 1  # the token request; no Graph request with a refused secret


def test_graph_expired_delta_link_resyncs_and_marks_what_is_gone(warehouse, graph):
    server, url = graph
    client = mail_client(server, url)
    mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    sim(url, "messages/move", {"ids": ["AAMkADmsg0010"], "folder": "deleteditems"})
    sim(url, "expire_delta_tokens", {})
    result = mailbox.load_messages(warehouse, client, mail_ctx("r2"), SETTINGS)
    assert result.detail["full_round"] and result.detail["gone_since_last_sync"] == 1
    assert (
        warehouse.query(f"select removed_reason from {mailbox.TABLE} where id = 'AAMkADmsg0010'")[0][0]
        == "absent from a full resync"
    )
    assert mailbox.load_messages(warehouse, client, mail_ctx("r3"), SETTINGS).rows_read == 0


def test_graph_messages_the_delta_misses_fail_the_load_against_the_inbox_total(warehouse, graph):
    server, url = graph
    client = mail_client(server, url)
    mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    cursor = warehouse.query("select cursor from meta.sync_cursors where source = 'mailbox'")[0][0]
    # Two messages land in the inbox below the sync state (as a lost change would): the delta returns nothing.
    conn = graph_api.connect_store(server.store_path)
    inbox = graph_api.folder_id(MAILBOX, "inbox")
    for i in (700, 701):
        conn.execute("insert into messages values (?, ?, ?, ?, ?, ?)", (f"AAMkADmsg0{i}", -i, inbox, "2026-03-02T08:00:00Z",
                     "2026-03-02T08:00:00Z", json.dumps(message(i))))  # fmt: skip
    conn.close()
    with pytest.raises(
        SourceDataMissing, match=rf"inbox holds {N_MESSAGES + 2} messages, the load would leave {N_MESSAGES}"
    ):
        mailbox.load_messages(warehouse, client, mail_ctx("r2"), SETTINGS)
    assert warehouse.query("select cursor from meta.sync_cursors where source = 'mailbox'")[0][0] == cursor


def test_graph_message_without_a_sender_is_quarantined_and_counted_as_held(warehouse, graph):
    server, url = graph
    client = mail_client(server, url)
    mailbox.load_messages(warehouse, client, mail_ctx("r1"), SETTINGS)
    broken = {k: v for k, v in message(901).items() if k not in ("from", "sender")}
    sim(url, "messages/deliver", {"messages": [broken, message(902)]})
    result = mailbox.load_messages(warehouse, client, mail_ctx("r2"), SETTINGS)
    assert (result.rows_inserted, result.rows_quarantined, result.detail["in_quarantine"]) == (1, 1, 1)
    location, reason = warehouse.query("select location, reason from meta.quarantine where source = 'mailbox'")[0]
    assert location.endswith("#AAMkADmsg0901") and "from.emailAddress" in reason
    # The next run still balances the inbox (46 loaded + 1 held = 47) and finds nothing new.
    assert mailbox.load_messages(warehouse, client, mail_ctx("r3"), SETTINGS).detail["in_quarantine"] == 1
