"""Google Analytics 4 Data API client and the loads of the customer portal's traffic into `raw_portal`.

Two reports (`runReport` on the portal's GA4 property), one raw table each, one row per key:

- `daily_traffic`: dimension `date` — the site's sessions, page views, engagement and key events per day
  (sessions do not add up across pages, so the day's total is its own report);
- `page_traffic`: dimensions `date`, `pagePath` — the same metrics per page and day.

What a naive client gets wrong, and what this one does:

- **Recent days are revised.** GA4 keeps processing a day for 24-72 h, so yesterday's figures grow.
  Each run re-reads a trailing window (`GA4_REVISION_DAYS`, 3) before the watermark and upserts on
  the (date, page) key: a revised row is updated in place (its `_revision` counter grows), never
  duplicated, and an unchanged one is left alone.
- **Paging by offset is only stable on a fixed order.** Without `orderBys` GA4 returns rows in no
  guaranteed order (by the first metric here), so revisions between pages skip or repeat rows: the
  client orders on the dimensions, pages with `limit`/`offset` up to `rowCount`, and checks it got
  exactly `rowCount` rows.
- **An empty report has no `rows` and no `rowCount`** (not `[]` and 0). A window with no data at all
  fails the load (wrong property, tracking removed from the portal) instead of loading nothing.
- **`date` comes as `YYYYMMDD`**, every metric value as a string.
- **Quotas.** Property tokens per hour and per day: exhausting them is a 429 `RESOURCE_EXHAUSTED`
  that lasts until the next hour (or day), so the load fails at once naming the quota and the task
  retries later; other 429s are waited out. `returnPropertyQuota` is logged with each batch.
- **Auth**: a service account's key signs a JWT exchanged for a one-hour bearer token (`oauth.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import requests

from cs_analytics.config import LOCAL_TZ, PORTAL_ANALYTICS_CONN_ID, IngestSettings
from cs_analytics.ingestion.api_load import canonical_json
from cs_analytics.ingestion.batch import (
    BatchContext,
    LoadResult,
    QuarantinedRow,
    SourceDataMissing,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    record_batch,
    resolve_quarantine,
    write_quarantine,
)
from cs_analytics.ingestion.http_client import RetryPolicy
from cs_analytics.ingestion.oauth import GoogleServiceAccount, OAuthApiSession
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows, create_schema_if_missing

log = logging.getLogger(__name__)

SOURCE = "portal_analytics"
SCHEMA = "raw_portal"
REPORTS: dict[str, tuple[str, ...]] = {"daily_traffic": ("date",), "page_traffic": ("date", "pagePath")}
METRICS = ("sessions", "screenPageViews", "userEngagementDuration", "keyEvents")
EARLIEST = date(2015, 8, 14)  # the first day GA4's Data API accepts
PAGE_SIZE = 10_000  # GA4's default; up to 250,000
COLUMNS = (
    "report_date", "page_path", "sessions", "screen_page_views", "user_engagement_seconds", "key_events",
    "payload", "_record_hash", "_batch_id", "_loaded_at", "_source",
)  # fmt: skip


class SourceQuotaExhausted(RuntimeError):
    """A quota that only recovers in an hour or a day: retrying now is pointless."""


def raw_ddl(table: str) -> str:
    return f"""
    {create_schema_if_missing(SCHEMA)}
    create table if not exists {SCHEMA}.{table} (
        report_date              date not null,
        page_path                text not null,     -- '' in reports without pagePath
        sessions                 bigint not null,
        screen_page_views        bigint not null,
        user_engagement_seconds  numeric not null,
        key_events               numeric not null,
        payload                  jsonb not null,    -- the report row as served, keyed by header names
        _record_hash             text not null,
        _revision                integer not null default 0,  -- times GA4 revised the row after its first load
        _first_loaded_at         timestamptz not null,
        _batch_id                text not null,
        _loaded_at               timestamptz not null,
        _source                  text not null,     -- endpoint and report
        primary key (report_date, page_path)
    );
    """


class Ga4Session(OAuthApiSession):
    """Google's quota errors: a property's hourly or daily tokens are gone until the hour (day) turns."""

    def rate_limit_delay(self, resp: requests.Response, waits: int) -> float:
        try:
            error = resp.json().get("error") or {}
        except ValueError:
            error = {}
        message = str(error.get("message", ""))
        if error.get("status") == "RESOURCE_EXHAUSTED" and "tokens" in message:
            raise SourceQuotaExhausted(
                f"429 RESOURCE_EXHAUSTED from the GA4 Data API (connection '{self.conn_id}'): {message} "
                "Nothing was committed; the task retries later, or raise the property's quota."
            )
        if resp.headers.get("Retry-After"):
            return super().rate_limit_delay(resp, waits)
        return self.retry.backoff(waits)


@dataclass
class Report:
    """All rows of one runReport, read page by page, with what GA4 said about them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    row_count: int = 0
    pages: int = 0
    property_quota: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Ga4Client:
    def __init__(self, api: Ga4Session, property_id: str, page_size: int = PAGE_SIZE):
        self.api = api
        self.property_id = property_id.removeprefix("properties/")
        self.page_size = page_size

    @property
    def endpoint(self) -> str:
        return f"/v1beta/properties/{self.property_id}:runReport"

    @classmethod
    def from_connection(
        cls, conn_id: str = PORTAL_ANALYTICS_CONN_ID, settings: IngestSettings | None = None
    ) -> Ga4Client:
        """HTTP connection: host = the Data API (analyticsdata.googleapis.com); extra `property_id` and
        the service-account key as `key_path` (a file) or `keyfile_dict`; `token_uri` overrides the key's."""
        from cs_analytics.connections import get_connection, http_endpoint

        settings = settings or IngestSettings.from_env()
        extra = get_connection(conn_id).extra_dejson or {}
        if not extra.get("property_id"):
            raise ValueError(f"connection '{conn_id}' has no 'property_id' in its extra")
        key_kwargs = {"timeout_s": settings.http_timeout_s, "retry": RetryPolicy(max_retries=settings.http_max_retries)}
        if extra.get("keyfile_dict"):
            key = extra["keyfile_dict"]
            key = json.loads(key) if isinstance(key, str) else dict(key)
        elif extra.get("key_path"):
            key = GoogleServiceAccount.from_file(conn_id, extra["key_path"]).key
        else:
            raise ValueError(f"connection '{conn_id}' needs 'key_path' or 'keyfile_dict' (service-account key)")
        if extra.get("token_uri"):
            key = {**key, "token_uri": extra["token_uri"]}
        tokens = GoogleServiceAccount(conn_id, key, **key_kwargs)
        api = Ga4Session(conn_id, http_endpoint(conn_id).base_url, tokens, settings.http_timeout_s,
                         RetryPolicy(max_retries=settings.http_max_retries))  # fmt: skip
        return cls(api, str(extra["property_id"]))

    def run_report(self, dimensions: tuple[str, ...], start: date, end: date) -> Report:
        """Every row for [start, end], ordered on the dimensions, paged up to `rowCount`."""
        for _attempt in range(3):
            report = self._read(dimensions, start, end)
            if len(report.rows) == report.row_count:
                return report
            # Rows appeared or vanished between two pages (GA4 was still processing): read again.
            log.warning("GA4 report %s: %d rows read, rowCount %d; reading again", dimensions, len(report.rows),
                        report.row_count)  # fmt: skip
        raise SourceDataMissing(
            f"GA4 property {self.property_id} ({self.api.conn_id}): report {'/'.join(dimensions)} for "
            f"{start}..{end} returned {len(report.rows)} rows but rowCount says {report.row_count}, three times"
        )

    def _read(self, dimensions: tuple[str, ...], start: date, end: date) -> Report:
        report = Report()
        offset = 0
        while True:
            body = {
                "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
                "dimensions": [{"name": d} for d in dimensions],
                "metrics": [{"name": m} for m in METRICS],
                "orderBys": [{"dimension": {"dimensionName": d}} for d in dimensions],
                "limit": self.page_size,
                "offset": offset,
                "returnPropertyQuota": True,
            }
            page = self.api.request("POST", self.endpoint, json=body)
            report.pages += 1
            dims = [h["name"] for h in page.get("dimensionHeaders", [])]
            metrics = [h["name"] for h in page.get("metricHeaders", [])]
            if dims != list(dimensions) or metrics != list(METRICS):
                raise SourceDataMissing(
                    f"GA4 ({self.api.conn_id}) answered headers {dims}/{metrics}, asked {list(dimensions)}/{list(METRICS)}"
                )
            rows = page.get("rows") or []  # absent on an empty report
            for row in rows:
                report.rows.append(
                    {
                        "dimensions": dict(
                            zip(dims, [v.get("value") for v in row.get("dimensionValues", [])], strict=False)
                        ),
                        "metrics": dict(
                            zip(metrics, [v.get("value") for v in row.get("metricValues", [])], strict=False)
                        ),
                    }
                )
            report.row_count = int(page.get("rowCount") or 0)
            report.property_quota = page.get("propertyQuota")
            report.metadata = page.get("metadata") or {}
            offset += len(rows)
            if not rows or offset >= report.row_count:
                return report


def parse_row(row: dict[str, Any], dimensions: tuple[str, ...]) -> tuple:
    """(report_date, page_path, sessions, views, engagement seconds, key events); ValueError with the reason."""
    dims, metrics = row["dimensions"], row["metrics"]
    day = str(dims.get("date") or "")
    try:
        report_date = datetime.strptime(day, "%Y%m%d").date()
    except ValueError as exc:
        raise ValueError(f"date {day!r} is not YYYYMMDD") from exc
    path = dims.get("pagePath", "") if "pagePath" in dimensions else ""
    if "pagePath" in dimensions and not path:
        raise ValueError("empty pagePath")
    values = []
    for name in METRICS:
        raw = metrics.get(name)
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError) as exc:
            raise ValueError(f"metric {name} = {raw!r} is not a number") from exc
        if value < 0 or not value.is_finite():
            raise ValueError(f"metric {name} = {raw!r} is negative")
        values.append(value)
    sessions, views, engagement, key_events = values
    if sessions != sessions.to_integral_value() or views != views.to_integral_value():
        raise ValueError("sessions and screenPageViews must be whole numbers")
    return report_date, path, int(sessions), int(views), engagement, key_events


def _paris_day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(LOCAL_TZ)).astimezone(UTC)


def report_window(watermark: datetime | None, ctx: BatchContext, revision_days: int, today: date) -> tuple[date, date]:
    """Days to read: from the earlier of the watermark's day and the interval's first day, minus the
    revision window (the whole property on a fresh warehouse), to the interval's last day."""
    paris = ZoneInfo(LOCAL_TZ)
    last = (ctx.interval_end.astimezone(paris) - timedelta(seconds=1)).date() if ctx.interval_end else today
    if watermark is None:
        return EARLIEST, last
    first = watermark.astimezone(paris).date()
    if ctx.interval_start is not None:
        first = min(first, ctx.interval_start.astimezone(paris).date())
    return max(EARLIEST, first - timedelta(days=revision_days)), last


def load_report(
    warehouse: Warehouse, client: Ga4Client, report: str, ctx: BatchContext, settings: IngestSettings | None = None
) -> LoadResult:
    """Load one report over the run's window; upsert on (date, page); fail when GA4 said more than we got."""
    settings = settings or IngestSettings.from_env()
    dimensions = REPORTS[report]
    table = f"{SCHEMA}.{report}"
    endpoint = f"{client.endpoint}#{report}"
    ensure_schema(warehouse)
    warehouse.execute(raw_ddl(report))
    result = LoadResult(source=ctx.source, object=ctx.object, batch_id=ctx.batch_id)

    with warehouse.transaction() as conn:
        watermark = get_watermark(conn, ctx.source, ctx.object)
        start, end = report_window(watermark, ctx, settings.ga4_revision_days, datetime.now(UTC).date())
        result.window_start, result.window_end = _paris_day_start(start), _paris_day_start(end + timedelta(days=1))
        log.info("%s: days %s..%s (watermark %s)", table, start, end, watermark)
        fetched = client.run_report(dimensions, start, end)
        result.rows_read = len(fetched.rows)
        result.detail = {"pages": fetched.pages, "row_count": fetched.row_count, "metadata": fetched.metadata,
                         "property_quota": fetched.property_quota}  # fmt: skip
        if fetched.row_count == 0:
            raise SourceDataMissing(
                f"GA4 property {client.property_id} (connection '{client.api.conn_id}') has no {report} data at "
                f"all for {start}..{end}: a wrong property id, or the tag removed from the portal? Nothing loaded."
            )

        quarantined: list[QuarantinedRow] = []
        latest: list[date] = []

        def rows() -> Iterator[tuple]:
            for row in fetched.rows:
                try:
                    parsed = parse_row(row, dimensions)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    where = "/".join(str(v) for v in (row.get("dimensions") or {}).values())
                    quarantined.append(QuarantinedRow(f"{endpoint}/{where}", f"invalid report row: {exc}",
                                                      json.dumps(row)[:20000]))  # fmt: skip
                    continue
                payload = canonical_json(row)
                latest[:] = [max([parsed[0], *latest])]
                yield (*parsed, payload, hashlib.md5(payload.encode()).hexdigest(), ctx.batch_id, ctx.loaded_at,
                       endpoint)  # fmt: skip

        with conn.cursor() as cur:
            cur.execute(
                f"create temp table _ga4_in on commit drop as select {', '.join(COLUMNS)} from {table} with no data"
            )
            copy_rows(cur, "_ga4_in", COLUMNS, rows())
            cur.execute(
                f"""
                with ins as (
                    insert into {table} as t ({", ".join(COLUMNS)}, _first_loaded_at)
                    select {", ".join(COLUMNS)}, _loaded_at from _ga4_in
                    on conflict (report_date, page_path) do update set
                        sessions = excluded.sessions, screen_page_views = excluded.screen_page_views,
                        user_engagement_seconds = excluded.user_engagement_seconds,
                        key_events = excluded.key_events, payload = excluded.payload,
                        _record_hash = excluded._record_hash, _revision = t._revision + 1,
                        _batch_id = excluded._batch_id, _loaded_at = excluded._loaded_at, _source = excluded._source
                    where t._record_hash <> excluded._record_hash
                    returning (xmax = 0) as inserted
                )
                select count(*) filter (where inserted), count(*) filter (where not inserted),
                       (select count(*) from _ga4_in)
                from ins
                """
            )
            inserted, updated, parsed_rows = cur.fetchone()
        result.rows_inserted, result.rows_updated = inserted, updated
        result.rows_unchanged = parsed_rows - inserted - updated
        result.rows_quarantined = write_quarantine(conn, ctx, quarantined)
        if parsed_rows + result.rows_quarantined != fetched.row_count:
            raise SourceDataMissing(
                f"GA4 ({client.api.conn_id}) reported {fetched.row_count} {report} rows for {start}..{end}; "
                f"{parsed_rows} loaded and {result.rows_quarantined} quarantined. Nothing committed."
            )
        resolve_quarantine(
            conn, ctx, "select %s || '/' || to_char(report_date, 'YYYYMMDD') || "
            "case when page_path = '' then '' else '/' || page_path end from _ga4_in", (endpoint,),
        )  # fmt: skip
        if latest:
            # The watermark is the end of the latest day loaded; the next run re-reads the days before it.
            result.watermark = _paris_day_start(latest[0] + timedelta(days=1))
            advance_watermark(conn, ctx.source, ctx.object, result.watermark, ctx.batch_id)
        record_batch(conn, ctx, result)

    log.info("%s (quota after: %s)", result.summary(), (fetched.property_quota or {}).get("tokensPerHour"))
    enforce_quarantine_rate(result, settings.quarantine_max_rate)
    return result
