"""Microsoft Graph mail client and the load of the shared customer-service mailbox into `raw_mailbox`.

The inbox is read with Graph's delta query (`/users/{mailbox}/mailFolders/inbox/messages/delta`): the
first round returns every message, each later round what changed since the `@odata.deltaLink` the
previous one ended with. That link is the load's cursor (`meta.sync_cursors`), replaced in the
transaction that loads the changes it covers, so a failed run re-reads them and a re-run finds nothing
new (a mailbox has no history to re-read an older interval from).

What a naive client gets wrong, and what this one does:

- **Paging**: a round is several pages chained by `@odata.nextLink` (10 messages by default; the
  client asks for more with `Prefer: odata.maxpagesize`); only the last carries the `@odata.deltaLink`.
- **The same message can come twice in a round** (changed while the round paged): the last version wins.
- **Moved or deleted messages come as `{"id", "@removed": {"reason": "deleted"}}`**, without their
  properties, whatever the filter. Upserting that stub would erase the message: the row keeps its last
  version and is marked `is_removed` (reason, when first seen gone).
- **A handled message is an update**, not a new one: categories and `flag.flagStatus = complete`
  (with `flag.completedDateTime`) are set by the agent, and `lastModifiedDateTime` moves.
- **Expired sync state** (`410 SyncStateNotFound`): the client starts a full round again and marks
  the messages that round no longer returns as removed.
- **Throttling**: `429` with `Retry-After` (10,000 requests per 10 minutes per mailbox) is waited out.
- **Nothing silently lost**: after the round the inbox's `totalItemCount` must equal the messages
  loaded and not removed; otherwise one more round, then the load fails without committing.
- **Auth**: client-credentials bearer token from the Microsoft identity platform (`oauth.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import psycopg

from cs_analytics.config import MAILBOX_CONN_ID, IngestSettings
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
from cs_analytics.ingestion.http_client import RetryPolicy, SourceRequestError
from cs_analytics.ingestion.mobile_app import parse_iso  # ISO-8601 with a zone, as Graph writes instants
from cs_analytics.ingestion.oauth import ClientCredentials, OAuthApiSession
from cs_analytics.schema import ensure_schema
from cs_analytics.warehouse import Warehouse, copy_rows, create_schema_if_missing

log = logging.getLogger(__name__)

SOURCE = "mailbox"
OBJECT = "messages"
TABLE = "raw_mailbox.messages"
SELECT = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
    "conversationId", "isRead", "inferenceClassification", "from", "sender", "toRecipients", "flag",
)  # fmt: skip
REQUIRED = ("id", "receivedDateTime", "lastModifiedDateTime")
COLUMNS = ("id", "received_at", "last_modified_at", "payload", "_record_hash", "_batch_id", "_loaded_at", "_source")

RAW_DDL = f"""
{create_schema_if_missing("raw_mailbox")}
create table if not exists {TABLE} (
    id                text primary key,
    received_at       timestamptz not null,
    last_modified_at  timestamptz not null,
    is_removed        boolean not null default false,  -- moved out of the inbox or deleted
    removed_reason    text,
    removed_seen_at   timestamptz,                      -- the load that first saw it gone
    payload           jsonb not null,                   -- the last full version served
    _record_hash      text not null,
    _batch_id         text not null,
    _loaded_at        timestamptz not null,
    _source           text not null
);
create index if not exists messages_received_at on {TABLE} (received_at);
"""


@dataclass
class Round:
    """What one delta round served: its items, pages and the link the next round starts from. The
    items themselves go to the load's `on_page` as each page arrives: a full round of a large inbox
    (1.3 million messages at scale 100) held in memory took 6.5 GB."""

    items: int = 0
    pages: int = 0
    delta_link: str = ""


class GraphMailClient:
    def __init__(self, api: OAuthApiSession, mailbox: str, page_size: int = 200):
        self.api = api
        self.mailbox = mailbox
        self.page_size = page_size

    @property
    def folder_path(self) -> str:
        return f"/v1.0/users/{quote(self.mailbox, safe='@')}/mailFolders/inbox"

    @classmethod
    def from_connection(cls, conn_id: str = MAILBOX_CONN_ID, settings: IngestSettings | None = None) -> GraphMailClient:
        """HTTP connection: host = Graph (graph.microsoft.com), login = the app's client id, password =
        its client secret; extra `tenant_id`, `mailbox` (the shared mailbox's address) and optionally
        `authority` (default https://login.microsoftonline.com)."""
        from cs_analytics.connections import get_connection, http_endpoint

        settings = settings or IngestSettings.from_env()
        conn = get_connection(conn_id)
        extra = conn.extra_dejson or {}
        for name in ("tenant_id", "mailbox"):
            if not extra.get(name):
                raise ValueError(f"connection '{conn_id}' has no '{name}' in its extra")
        if not conn.login or not conn.password:
            raise ValueError(f"connection '{conn_id}' needs the client id as login and the client secret as password")
        retry = RetryPolicy(max_retries=settings.http_max_retries)
        tokens = ClientCredentials(
            conn_id, extra.get("authority", "https://login.microsoftonline.com"), extra["tenant_id"], conn.login,
            conn.password, timeout_s=settings.http_timeout_s, retry=retry,
        )  # fmt: skip
        api = OAuthApiSession(conn_id, http_endpoint(conn_id).base_url, tokens, settings.http_timeout_s, retry)
        return cls(api, extra["mailbox"], settings.graph_page_size)

    def _get(self, url_or_path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        path = url_or_path
        if "://" in url_or_path:
            if not url_or_path.startswith(self.api.base_url + "/"):
                raise SourceRequestError(f"link {url_or_path} does not point at {self.api.base_url}")
            path = url_or_path[len(self.api.base_url) :]
        return self.api.request(
            "GET", path, params=params, headers={"Prefer": f'odata.maxpagesize={self.page_size}, IdType="ImmutableId"'}
        )

    def folder(self) -> dict[str, Any]:
        return self._get(self.folder_path)

    def delta_round(self, delta_link: str | None, on_page: Callable[[list[dict[str, Any]]], None]) -> Round:
        """One round of the delta query, from `delta_link` (None: a full round); each page's items go
        to `on_page`, in the order served (a later version of a message in the same round wins)."""
        result = Round()
        if delta_link:
            page = self._get(delta_link)
        else:
            page = self._get(f"{self.folder_path}/messages/delta", {"$select": ",".join(SELECT)})
        while True:
            result.pages += 1
            items = page.get("value", [])
            result.items += len(items)
            on_page(items)
            if page.get("@odata.deltaLink"):
                result.delta_link = page["@odata.deltaLink"]
                return result
            if not page.get("@odata.nextLink"):
                raise SourceRequestError(f"delta page without @odata.nextLink or @odata.deltaLink ({self.api.conn_id})")
            page = self._get(page["@odata.nextLink"])


def _is_expired_sync_state(exc: SourceRequestError) -> bool:
    return str(exc).startswith("410 ")


def _cursor(conn: psycopg.Connection, source: str, obj: str) -> str | None:
    conn.execute(
        "insert into meta.sync_cursors (source, object, cursor, batch_id) values (%s, %s, null, 'init') "
        "on conflict do nothing",
        (source, obj),
    )
    row = conn.execute(
        "select cursor from meta.sync_cursors where source = %s and object = %s for update", (source, obj)
    ).fetchone()
    return row[0] if row else None


def load_messages(
    warehouse: Warehouse, client: GraphMailClient, ctx: BatchContext, settings: IngestSettings | None = None
) -> LoadResult:
    """Apply the inbox's changes since the last load; fail when the inbox holds what the table does not."""
    settings = settings or IngestSettings.from_env()
    endpoint = f"{client.folder_path}/messages/delta"
    ensure_schema(warehouse)
    warehouse.execute(RAW_DDL)
    result = LoadResult(source=ctx.source, object=ctx.object, batch_id=ctx.batch_id)

    with warehouse.transaction() as conn:
        watermark = get_watermark(conn, ctx.source, ctx.object)
        link = _cursor(conn, ctx.source, ctx.object)
        full = link is None
        writer = _RoundWriter(conn)

        def read_round(from_link: str | None) -> Round:
            writer.start()
            return client.delta_round(from_link, writer)

        try:
            rounds = [read_round(link)]
        except SourceRequestError as exc:
            if not _is_expired_sync_state(exc):
                raise
            log.warning("%s: the delta link expired (%s); reading the whole inbox again", TABLE, str(exc)[:120])
            full, rounds = True, [read_round(None)]
        result.detail = {"full_round": full}
        quarantined: list[QuarantinedRow] = []
        latest: list[datetime] = []

        for attempt in range(2):
            delta = rounds[-1]
            result.rows_read += delta.items
            removed = _apply(conn, ctx, endpoint, result, quarantined, latest)
            if full and attempt == 0:
                # A full round returns every message still there: what it did not return has gone.
                result.detail["gone_since_last_sync"] = _mark_absent_removed(conn, ctx)
            total = int(client.folder().get("totalItemCount", -1))
            live = conn.execute(f"select count(*) from {TABLE} where not is_removed").fetchone()[0]
            held = _quarantined_elsewhere(conn, ctx, endpoint, quarantined, removed)
            result.detail.update({"inbox_total_items": total, "loaded_live_messages": live, "in_quarantine": held,
                                  "pages": sum(r.pages for r in rounds)})  # fmt: skip
            # Nothing lost: every message of the inbox is in the table or in quarantine.
            if live + held == total:
                break
            if attempt == 0:
                log.warning("%s: inbox holds %d messages, table %d; one more delta round", TABLE, total, live)
                rounds.append(read_round(delta.delta_link))
        else:
            raise SourceDataMissing(
                f"mailbox {client.mailbox} (connection '{client.api.conn_id}'): the inbox holds {total} messages, "
                f"the load would leave {live} and {held} in quarantine (read {result.rows_read} changes). "
                "Nothing committed; see the task log."
            )

        result.rows_quarantined = write_quarantine(conn, ctx, quarantined)
        resolve_quarantine(conn, ctx, "select %s || '#' || id from _mail_in", (endpoint,))
        conn.execute(
            "update meta.sync_cursors set cursor = %s, batch_id = %s, updated_at = now() "
            "where source = %s and object = %s",
            (rounds[-1].delta_link, ctx.batch_id, ctx.source, ctx.object),
        )
        result.watermark = max(latest) if latest else watermark
        advance_watermark(conn, ctx.source, ctx.object, max(latest) if latest else None, ctx.batch_id)
        record_batch(conn, ctx, result)

    log.info("%s", result.summary())
    enforce_quarantine_rate(result, settings.quarantine_max_rate)
    return result


# `_mail_round`: one row per delta item, in the order served (the columns `_checked` returns after seq)
ROUND_TABLE = {
    "seq": "bigint not null", "id": "text", "removed_reason": "text", "received_at": "timestamptz",
    "last_modified_at": "timestamptz", "payload": "text", "_record_hash": "text", "invalid_reason": "text",
    "raw": "text",
}  # fmt: skip


class _RoundWriter:
    """Streams a delta round into the temp table `_mail_round` as its pages arrive, one row per item
    in the order served, each checked on the way (its parsed columns, or why it cannot be loaded);
    `_apply` keeps the last row of each message. Memory stays at one page whatever the inbox."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.seq = 0

    def start(self) -> None:
        self.seq = 0
        columns = ", ".join(f"{name} {kind}" for name, kind in ROUND_TABLE.items())
        self.conn.execute(f"create temp table if not exists _mail_round ({columns}) on commit drop")
        self.conn.execute("truncate _mail_round")

    def __call__(self, items: list[dict[str, Any]]) -> None:
        rows = []
        for item in items:
            self.seq += 1
            rows.append((self.seq, *_checked(item)))
        with self.conn.cursor() as cur:
            copy_rows(cur, "_mail_round", tuple(ROUND_TABLE), rows)


def _checked(item: dict[str, Any]) -> tuple:
    """(id, removed_reason, received_at, last_modified_at, payload, hash, invalid_reason, raw) of a delta item."""
    message_id = item.get("id")
    if not message_id:
        return (None, None, None, None, None, None, "delta item without an id", json.dumps(item, default=str)[:20000])
    if "@removed" in item:
        reason = str((item.get("@removed") or {}).get("reason") or "removed")
        return (message_id, reason, None, None, None, None, None, None)
    try:
        missing = [f for f in REQUIRED if not item.get(f)]
        if missing:
            raise ValueError(f"missing required field(s) {', '.join(missing)}")
        received, modified = parse_iso(item["receivedDateTime"]), parse_iso(item["lastModifiedDateTime"])
        sender = ((item.get("from") or {}).get("emailAddress") or {}).get("address")
        if not sender:
            raise ValueError("no from.emailAddress.address")
        payload = canonical_json(item)
    except (ValueError, TypeError, AttributeError) as exc:
        return (message_id, None, None, None, None, None, f"invalid message: {exc}",
                json.dumps(item, default=str)[:20000])  # fmt: skip
    return (message_id, None, received, modified, payload, hashlib.md5(payload.encode()).hexdigest(), None, None)


def _apply(
    conn: psycopg.Connection, ctx: BatchContext, endpoint: str, result: LoadResult,
    quarantined: list[QuarantinedRow], latest: list[datetime],
) -> set[str]:  # fmt: skip
    """Upsert the round's messages (when changed) and mark its removals, in the load's transaction;
    returns the ids the round removed. The round is in `_mail_round`; the last row of each message
    is its state (a later version, or a removal, wins)."""
    with conn.cursor() as cur:
        cur.execute("drop table if exists _mail_latest")
        cur.execute(
            "create temp table _mail_latest on commit drop as "
            "select distinct on (id) * from _mail_round where id is not null order by id, seq desc"
        )
        cur.execute("select raw from _mail_round where id is null order by seq")
        for (raw,) in cur.fetchall():
            quarantined.append(QuarantinedRow(f"{endpoint}#item-{len(quarantined)}", "delta item without an id", raw))
        cur.execute("select id, invalid_reason, raw from _mail_latest where invalid_reason is not null order by id")
        quarantined.extend(QuarantinedRow(f"{endpoint}#{i}", reason, raw) for i, reason, raw in cur.fetchall())
        cur.execute(
            f"create temp table if not exists _mail_in on commit drop as select {', '.join(COLUMNS)} from {TABLE} with no data"
        )
        cur.execute("truncate _mail_in")
        cur.execute(
            f"insert into _mail_in ({', '.join(COLUMNS)}) "
            "select id, received_at, last_modified_at, payload::jsonb, _record_hash, %s, %s, %s from _mail_latest "
            "where removed_reason is null and invalid_reason is null",
            (ctx.batch_id, ctx.loaded_at, endpoint),
        )
        cur.execute("select max(last_modified_at) from _mail_in")
        if (modified := cur.fetchone()[0]) is not None:
            latest.append(modified)
        cur.execute(
            f"""
            with ins as (
                insert into {TABLE} as t ({", ".join(COLUMNS)})
                select {", ".join(COLUMNS)} from _mail_in
                on conflict (id) do update set
                    received_at = excluded.received_at, last_modified_at = excluded.last_modified_at,
                    is_removed = false, removed_reason = null, removed_seen_at = null,
                    payload = excluded.payload, _record_hash = excluded._record_hash,
                    _batch_id = excluded._batch_id, _loaded_at = excluded._loaded_at, _source = excluded._source
                where t._record_hash <> excluded._record_hash or t.is_removed
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted), (select count(*) from _mail_in)
            from ins
            """
        )
        inserted, updated, loaded = cur.fetchone()
        cur.execute("select id from _mail_latest where removed_reason is not null")
        removed_ids = {i for (i,) in cur.fetchall()}
        removed = 0
        if removed_ids:
            cur.execute(
                f"""
                update {TABLE} set is_removed = true, removed_reason = r.removed_reason, removed_seen_at = %s,
                       _batch_id = %s, _loaded_at = %s
                from _mail_latest as r
                where r.removed_reason is not null and {TABLE}.id = r.id and not {TABLE}.is_removed
                """,
                (ctx.loaded_at, ctx.batch_id, ctx.loaded_at),
            )
            removed = cur.rowcount
    result.rows_inserted += inserted
    result.rows_updated += updated + removed
    result.rows_unchanged += loaded - inserted - updated
    result.detail["removed"] = result.detail.get("removed", 0) + removed
    # A removal of a message never loaded (arrived and left between two runs) leaves nothing to keep.
    result.detail["removed_unknown"] = result.detail.get("removed_unknown", 0) + len(removed_ids) - removed
    return removed_ids


def _quarantined_elsewhere(
    conn: psycopg.Connection, ctx: BatchContext, endpoint: str, quarantined: list[QuarantinedRow], removed: set[str]
) -> int:
    """Inbox messages held in quarantine (by this load, or still open from an earlier one) and not in the table."""
    ids = {q.location.rsplit("#", 1)[-1] for q in quarantined if q.location.startswith(endpoint + "#")}
    open_entries = conn.execute(
        "select location from meta.quarantine where source = %s and object = %s and resolved_at is null",
        (ctx.source, ctx.object),
    ).fetchall()
    ids |= {location.rsplit("#", 1)[-1] for (location,) in open_entries}
    ids -= removed
    if not ids:
        return 0
    loaded = conn.execute(f"select count(*) from {TABLE} where id = any(%s) and not is_removed", (list(ids),))
    return len(ids) - loaded.fetchone()[0]


def _mark_absent_removed(conn: psycopg.Connection, ctx: BatchContext) -> int:
    """After a full round (in `_mail_latest`): messages loaded earlier that it did not return, even
    in a version that went to quarantine, are gone."""
    with conn.cursor() as cur:
        cur.execute(
            f"update {TABLE} as t set is_removed = true, removed_reason = 'absent from a full resync', "
            f"removed_seen_at = %s, _batch_id = %s, _loaded_at = %s "
            f"where not t.is_removed and not exists "
            f"(select 1 from _mail_latest as p where p.id = t.id and p.removed_reason is null)",
            (ctx.loaded_at, ctx.batch_id, ctx.loaded_at),
        )
        return cur.rowcount
