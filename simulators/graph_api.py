"""Microsoft Graph v1.0 mail API of the shared customer-service mailbox over the store
`SIM_DATA_DIR/mailbox.sqlite`, with the Microsoft identity platform's token endpoint (OAuth 2.0
client credentials).

    python -m simulators.graph_api --port 8705 [--rate-limit-per-10min 10000]

Contract and the quirks reproduced: simulators/README.md ("Shared mailbox").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from simulators import stores
from simulators.httpbase import (
    ApiError,
    Request,
    Response,
    Route,
    SimServer,
    json_error,
    parse_instant,
    run_cli,
    serve_in_thread,
)

__all__ = ["GraphServer", "make_server", "main", "serve_in_thread", "write_store"]

STORE_NAME = "mailbox.sqlite"
TENANT_ID = "5c1f6a2e-8d3b-4f7a-9e21-3b6f0d9c4a17"
CLIENT_ID = "b7e4c2a9-1f3d-4e6b-8a5c-2d9f7e1b3c64"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_PAGE, MAX_PAGE = 10, 1000
WELL_KNOWN_FOLDERS = {"inbox": "Inbox", "junkemail": "Junk Email", "deleteditems": "Deleted Items"}
MESSAGE_PROPERTIES = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
    "conversationId", "isRead", "isDraft", "inferenceClassification", "from", "sender", "toRecipients", "flag",
)  # fmt: skip
FILTERABLE = ("receivedDateTime", "lastModifiedDateTime")

SCHEMA = """
create table if not exists mailbox (
    user_principal_name  text primary key,
    object_id            text not null,
    display_name         text not null,
    sync_floor           integer not null default 0   -- delta tokens older than this are expired
);
create table if not exists folders (
    id          text primary key,
    well_known  text not null unique,
    display_name text not null
);
-- one row per message, in the folder it is in now; seq orders every change (a global change counter)
create table if not exists messages (
    id           text primary key,
    seq          integer not null unique,
    folder       text not null,
    received_at  text not null,
    modified_at  text not null,
    payload      text not null
);
create index if not exists messages_by_folder_seq on messages (folder, seq);
-- a message leaving a folder (moved or deleted) at change seq
create table if not exists removals (
    seq     integer primary key,
    id      text not null,
    folder  text not null
);
"""


def default_store_path() -> Path:
    return stores.sim_data_dir() / STORE_NAME


def connect_store(path: Path) -> sqlite3.Connection:
    return stores.connect(path, SCHEMA)


@lru_cache(maxsize=64)
def folder_id(mailbox: str, well_known: str) -> str:
    digest = hashlib.sha256(f"{mailbox}|{well_known}".encode()).digest()
    return "AAMkADFolder" + base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=") + "AAA="


def change_key(seq: int) -> str:
    """Exchange's version stamp of an item: changes whenever the item does."""
    return "CQAAABYAAAD" + base64.b64encode(seq.to_bytes(12, "big")).decode()


def _graph_error(status: int, code: str, message: str) -> ApiError:
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
             "client-request-id": str(uuid.uuid4())}  # fmt: skip
    return json_error(status, {"error": {"code": code, "message": message, "innerError": inner}})


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    return Response(status, {
        "error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"), "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    })  # fmt: skip


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise _graph_error(400, "BadRequest", "The provided state token is not valid.") from exc


# --------------------------------------------------------------------------- OData $filter / $orderby
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|gt|le|lt)\s+(\S+)\s*$", re.IGNORECASE)


def parse_filter(text: str | None) -> list[tuple[str, str, str]]:
    """`receivedDateTime ge 2025-03-01T00:00:00Z and receivedDateTime lt ...` -> [(property, op, ISO)]."""
    if not text:
        return []
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _CLAUSE.match(part)
        if not m:
            raise _graph_error(400, "BadRequest", f"Invalid filter clause: {part.strip()!r}.")
        prop, op, value = m.group(1), m.group(2).lower(), m.group(3)
        if prop not in FILTERABLE:
            raise _graph_error(400, "ErrorInvalidProperty", f"The property '{prop}' does not support filtering.")
        try:
            instant = stores.iso_utc(parse_instant(value))
        except (ValueError, OverflowError) as exc:
            raise _graph_error(400, "BadRequest", f"Invalid date-time literal {value!r} in $filter.") from exc
        clauses.append((prop, op, instant))
    return clauses


def _matches(payload: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    for prop, op, instant in clauses:
        value = stores.iso_utc(parse_instant(payload[prop]))
        ok = {"eq": value == instant, "ne": value != instant, "ge": value >= instant, "gt": value > instant,
              "le": value <= instant, "lt": value < instant}[op]  # fmt: skip
        if not ok:
            return False
    return True


def _select(req_select: str | None) -> list[str] | None:
    if not req_select:
        return None
    names = [n.strip() for n in req_select.split(",") if n.strip()]
    for name in names:
        if name not in MESSAGE_PROPERTIES:
            raise _graph_error(400, "RequestBroker--ParseUri",
                               f"Could not find a property named '{name}' on type 'microsoft.graph.message'.")  # fmt: skip
    return names


def _project(payload: dict[str, Any], names: list[str] | None) -> dict[str, Any]:
    out = {"@odata.etag": f'W/"{payload["changeKey"]}"'}
    keep = MESSAGE_PROPERTIES if names is None else ("id", *names)
    out.update({k: payload[k] for k in keep if k in payload})
    return out


class GraphServer(SimServer):
    name = "graph"
    # Outlook resources: 10,000 requests per 10 minutes per app per mailbox.
    fault_defaults = {"rate_limit_per_10min": 10_000, "token_lifetime_seconds": 3599}
    limiter_settings = {"mailbox": ("rate_limit_per_10min", 600.0)}

    def __init__(self, host: str, port: int, *, store_path: Path, client_secret: str, **faults: Any):
        self.store_path = store_path
        self.client_secret = client_secret
        super().__init__(host, port, token="", **faults)
        connect_store(store_path).close()  # an empty store until the generator fills it
        self.access_tokens: dict[str, float] = {}

    def routes(self) -> list[Route]:
        user = r"/v1\.0/users/(?P<user>[^/]+)/mailFolders/(?P<folder>[^/]+)"
        return [
            Route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token", self.issue_token, limits=(), auth=False),
            Route("GET", user, self.get_folder, ("mailbox",)),
            Route("GET", user + r"/messages", self.list_messages, ("mailbox",)),
            Route("GET", user + r"/messages/delta", self.delta, ("mailbox",)),
            Route("POST", r"/_sim/messages/update", self.sim_update),
            Route("POST", r"/_sim/messages/move", self.sim_move),
            Route("POST", r"/_sim/messages/deliver", self.sim_deliver),
            Route("POST", r"/_sim/expire_delta_tokens", self.sim_expire_tokens),
        ]

    # ---- Graph's error shapes
    def rate_limited(self, limiter: str, retry_after: int) -> Response:
        return _graph_error(429, "ApplicationThrottled", "Application is over its MailboxRequests limit.").response

    def failure(self, status: int) -> Response:
        codes = {500: "generalException", 502: "BadGateway", 503: "serviceNotAvailable", 504: "GatewayTimeout"}
        return _graph_error(
            status, codes.get(status, "UnknownError"), "The service is temporarily unavailable."
        ).response

    def authenticate(self, req: Request) -> Response | None:
        token = req.bearer_token()
        if token is None:
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty.").response
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return _graph_error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.").response
        if expiry <= self.now():
            return _graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.").response  # fmt: skip
        return None

    # ---- Microsoft identity platform: client credentials
    def issue_token(self, req: Request) -> Response:
        form = req.form
        if req.params["tenant"] != TENANT_ID:
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{req.params['tenant']}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != CLIENT_ID:
            return _aad_error(400, "unauthorized_client", 700016, f"Application with identifier "
                              f"'{form.get('client_id')}' was not found in the directory.")  # fmt: skip
        if not secrets.compare_digest(str(form.get("client_secret") or ""), self.client_secret):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                              "being sent in the request is the client secret value, not the client secret ID.")  # fmt: skip
        if form.get("scope") != GRAPH_SCOPE:
            return _aad_error(400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is "
                              "not valid. Client credential flows must have a scope value with /.default suffixed.")  # fmt: skip
        lifetime = int(self.faults["token_lifetime_seconds"])
        token = "eyJ0eXAiOiJKV1Qi.sim." + secrets.token_urlsafe(40)
        self.access_tokens[token] = self.now() + lifetime
        return Response(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                              "access_token": token})  # fmt: skip

    # ---- store
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = connect_store(self.store_path)
        try:
            yield conn
        finally:
            conn.close()

    def _mailbox(self, conn: sqlite3.Connection, user: str) -> sqlite3.Row:
        row = conn.execute(
            "select * from mailbox where lower(user_principal_name) = lower(?) or object_id = ?", (user, user)
        ).fetchone()
        if row is None:
            raise _graph_error(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        return row

    def _folder(self, conn: sqlite3.Connection, folder: str) -> sqlite3.Row:
        row = conn.execute("select * from folders where id = ? or well_known = lower(?)", (folder, folder)).fetchone()
        if row is None:
            raise _graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return row

    def _base(self, req: Request) -> str:
        return f"http://{req.host}{req.path}"

    # ---- endpoints
    def get_folder(self, req: Request) -> Response:
        with self._db() as conn:
            self._mailbox(conn, req.params["user"])
            folder = self._folder(conn, req.params["folder"])
            total, unread = conn.execute(
                "select count(*), coalesce(sum(case when json_extract(payload, '$.isRead') then 0 else 1 end), 0) "
                "from messages where folder = ?",
                (folder["id"],),
            ).fetchone()
        return Response(200, {
            "@odata.context": f"http://{req.host}/v1.0/$metadata#users('{req.params['user']}')/mailFolders/$entity",
            "id": folder["id"], "displayName": folder["display_name"], "parentFolderId": "AAMkADRoot", "childFolderCount": 0,
            "unreadItemCount": unread, "totalItemCount": total, "sizeInBytes": total * 18_432, "isHidden": False,
        })  # fmt: skip

    def list_messages(self, req: Request) -> Response:
        names = _select(req.arg("$select"))
        clauses = parse_filter(req.arg("$filter"))
        order = (req.arg("$orderby") or "").strip()
        order_prop, _, direction = order.partition(" ")
        if order and order_prop not in FILTERABLE:
            raise _graph_error(400, "ErrorInvalidProperty", f"The property '{order_prop}' does not support sorting.")
        if clauses and order and clauses[0][0] != order_prop:
            # Exchange needs the sort property to lead the filter.
            raise _graph_error(400, "InefficientFilter", "The restriction or sort order is too complex for this operation.")  # fmt: skip
        top = self._int_arg(req.arg("$top"), DEFAULT_PAGE, "$top")
        skip = self._int_arg(req.arg("$skip"), 0, "$skip", minimum=0)
        with self._db() as conn:
            self._mailbox(conn, req.params["user"])
            folder = self._folder(conn, req.params["folder"])
            rows = conn.execute("select payload from messages where folder = ?", (folder["id"],)).fetchall()
        items = [json.loads(r["payload"]) for r in rows]
        items = [p for p in items if _matches(p, clauses)]
        key = order_prop or "receivedDateTime"  # Graph's default: newest first
        descending = not order or direction.strip().lower() == "desc"
        items.sort(key=lambda p: (p[key], p["id"]), reverse=descending)
        page = items[skip : skip + top]
        body: dict[str, Any] = {"@odata.context": f"http://{req.host}/v1.0/$metadata#users('{req.params['user']}')/mailFolders('{req.params['folder']}')/messages"}  # fmt: skip
        if (req.arg("$count") or "").lower() == "true":
            body["@odata.count"] = len(items)
        body["value"] = [_project(p, names) for p in page]
        if skip + top < len(items):
            params = {k: v[0] for k, v in req.query.items()}
            params["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{self._base(req)}?{urlencode(params)}"
        return Response(200, body)

    @staticmethod
    def _int_arg(raw: str | None, default: int, name: str, minimum: int = 1) -> int:
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise _graph_error(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.") from exc
        if value < minimum or (name == "$top" and value > MAX_PAGE):
            raise _graph_error(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.")
        return value

    def delta(self, req: Request) -> Response:
        """A round of the delta query, keyset-paged on the change counter.

        State tokens carry (since, after): `since` is where the previous round ended, `after` the last
        change served in this round. A message changed while a round pages gets a new change number
        and is served again later in the same round; removals (moved or deleted messages) come as
        `@removed` entries whatever the filter, except in the first round.
        """
        with self._db() as conn:
            mailbox = self._mailbox(conn, req.params["user"])
            folder = self._folder(conn, req.params["folder"])
            if token := (req.arg("$skiptoken") or req.arg("$deltatoken")):
                state = _decode_token(token)
                if state.get("folder") != folder["id"]:
                    raise _graph_error(400, "BadRequest", "The state token belongs to another folder.")
                if state["round"] < mailbox["sync_floor"]:
                    raise _graph_error(410, "SyncStateNotFound", "The sync state is not found or has expired. "
                                       "Please restart synchronization without a state token.")  # fmt: skip
                if req.arg("$deltatoken"):
                    state["after"] = state["round"] = state["since"]
            else:
                if req.arg("$orderby") and req.arg("$orderby").strip() != "receivedDateTime desc":
                    raise _graph_error(400, "BadRequest", "Delta supports only $orderby=receivedDateTime desc.")
                filter_text = req.arg("$filter")
                for prop, op, _ in parse_filter(filter_text):
                    if prop != "receivedDateTime" or op not in ("ge", "gt"):
                        raise _graph_error(400, "BadRequest", "Delta supports only $filter on receivedDateTime "
                                           "with ge or gt.")  # fmt: skip
                _select(req.arg("$select"))
                size = re.search(r"odata\.maxpagesize=(\d+)", req.headers.get("Prefer", ""))
                state = {"folder": folder["id"], "since": 0, "after": 0, "round": self._next_seq(conn) - 1, "select": req.arg("$select"),
                         "filter": filter_text, "size": min(int(size.group(1)), MAX_PAGE) if size else DEFAULT_PAGE}  # fmt: skip
            names, clauses = _select(state["select"]), parse_filter(state["filter"])
            rows = conn.execute(
                """
                select seq, id, payload, 0 as removed from messages where folder = :folder and seq > :after
                union all
                select r.seq, r.id, null, 1 from removals r
                where r.folder = :folder and r.seq > :after and :since > 0
                  and not exists (select 1 from messages m where m.id = r.id and m.folder = :folder and m.seq > r.seq)
                order by seq limit :limit
                """,
                {"folder": folder["id"], "after": state["after"], "since": state["since"], "limit": state["size"] + 1},
            ).fetchall()
            newest = conn.execute("select max(seq) from (select max(seq) seq from messages union all select max(seq) from removals)").fetchone()[0] or 0  # fmt: skip
        page, more = rows[: state["size"]], len(rows) > state["size"]
        value = []
        for r in page:
            if r["removed"]:
                value.append(
                    {"@odata.type": "#microsoft.graph.message", "id": r["id"], "@removed": {"reason": "deleted"}}
                )
            else:
                payload = json.loads(r["payload"])
                if _matches(payload, clauses):
                    value.append({"@odata.type": "#microsoft.graph.message", **_project(payload, names)})
        body: dict[str, Any] = {
            "@odata.context": f"http://{req.host}/v1.0/$metadata#Collection(message)",
            "value": value,
        }
        base = self._base(req)
        if more:
            state["after"] = page[-1]["seq"]
            body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': _encode_token(state)})}"
        else:
            state["since"] = state["after"] = max(newest, state["after"])
            body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': _encode_token(state)})}"
        return Response(200, body)

    # ---- test switches: what agents and the mail flow do to the mailbox
    def _next_seq(self, conn: sqlite3.Connection) -> int:
        return 1 + (conn.execute(
            "select max(seq) from (select max(seq) seq from messages union all select max(seq) from removals)"
        ).fetchone()[0] or 0)  # fmt: skip

    def sim_update(self, req: Request) -> Response:
        """Merge properties into messages (e.g. a completed flag, categories) as an agent would."""
        spec = req.json_object()
        changed = []
        with self._db() as conn:
            conn.execute("begin immediate")
            for message_id in spec.get("ids") or []:
                row = conn.execute("select payload from messages where id = ?", (message_id,)).fetchone()
                if row is None:
                    continue
                seq = self._next_seq(conn)
                payload = {**json.loads(row["payload"]), **(spec.get("set") or {})}
                payload["lastModifiedDateTime"] = _now_text()
                payload["changeKey"] = change_key(seq)
                conn.execute("update messages set seq = ?, modified_at = ?, payload = ? where id = ?",
                             (seq, payload["lastModifiedDateTime"], json.dumps(payload, ensure_ascii=False), message_id))  # fmt: skip
                changed.append(message_id)
            conn.execute("commit")
        return Response(200, {"updated": changed})

    def sim_move(self, req: Request) -> Response:
        """Move messages to another folder (junkemail, deleteditems, inbox): a removal for the old folder."""
        spec = req.json_object()
        moved = []
        with self._db() as conn:
            target = self._folder(conn, str(spec.get("folder") or "deleteditems"))
            conn.execute("begin immediate")
            for message_id in spec.get("ids") or []:
                row = conn.execute("select folder, payload from messages where id = ?", (message_id,)).fetchone()
                if row is None or row["folder"] == target["id"]:
                    continue
                seq = self._next_seq(conn)
                conn.execute(
                    "insert into removals (seq, id, folder) values (?, ?, ?)", (seq, message_id, row["folder"])
                )
                payload = {**json.loads(row["payload"]), "parentFolderId": target["id"],
                           "lastModifiedDateTime": _now_text(), "changeKey": change_key(seq + 1)}  # fmt: skip
                conn.execute("update messages set seq = ?, folder = ?, modified_at = ?, payload = ? where id = ?",
                             (seq + 1, target["id"], payload["lastModifiedDateTime"], json.dumps(payload, ensure_ascii=False), message_id))  # fmt: skip
                moved.append(message_id)
            conn.execute("commit")
        return Response(200, {"moved": moved})

    def sim_deliver(self, req: Request) -> Response:
        """Deliver new messages (full payloads) to the inbox."""
        spec = req.json_object()
        with self._db() as conn:
            inbox = self._folder(conn, "inbox")
            conn.execute("begin immediate")
            for payload in spec.get("messages") or []:
                seq = self._next_seq(conn)
                payload = {**payload, "parentFolderId": inbox["id"], "changeKey": change_key(seq)}
                conn.execute(
                    "insert or replace into messages (id, seq, folder, received_at, modified_at, payload) values (?, ?, ?, ?, ?, ?)",
                    (payload["id"], seq, inbox["id"], payload["receivedDateTime"], payload["lastModifiedDateTime"],
                     json.dumps(payload, ensure_ascii=False)),
                )  # fmt: skip
            conn.execute("commit")
        return Response(200, {"delivered": len(spec.get("messages") or [])})

    def sim_expire_tokens(self, req: Request) -> Response:
        """Expire every delta token handed out so far (Exchange drops old sync states)."""
        with self._db() as conn:
            conn.execute("update mailbox set sync_floor = ?", (self._next_seq(conn) - 1,))
        return Response(200, {"expired": True})


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_store(path: Path, user: str, display_name: str, messages: list[dict], removals: list[tuple]) -> int:
    """messages: (seq, folder well-known name, payload) triples as dicts {seq, folder, payload};
    removals: (seq, message id, folder well-known name)."""
    conn = connect_store(path)
    try:
        conn.execute("begin")
        for table in ("mailbox", "folders", "messages", "removals"):
            conn.execute(f"delete from {table}")
        object_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, user))
        conn.execute("insert into mailbox values (?, ?, ?, 0)", (user, object_id, display_name))
        conn.executemany(
            "insert into folders values (?, ?, ?)",
            [(folder_id(user, k), k, v) for k, v in WELL_KNOWN_FOLDERS.items()],
        )
        conn.executemany(
            "insert into messages values (?, ?, ?, ?, ?, ?)",
            [
                (m["payload"]["id"], m["seq"], folder_id(user, m["folder"]), m["payload"]["receivedDateTime"],
                 m["payload"]["lastModifiedDateTime"], json.dumps(m["payload"], ensure_ascii=False))
                for m in messages
            ],
        )  # fmt: skip
        conn.executemany(
            "insert into removals values (?, ?, ?)", [(seq, i, folder_id(user, f)) for seq, i, f in removals]
        )
        conn.execute("commit")
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    return len(messages)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_path: str | Path | None = None,
    client_secret: str | None = None,
    **limits: Any,
) -> GraphServer:
    """A Graph mail API server, not yet serving. `limits`: e.g. `rate_limit_per_10min=5`."""
    secret = client_secret or os.environ.get("GRAPH_SIM_CLIENT_SECRET")
    if not secret:
        raise ValueError("GRAPH_SIM_CLIENT_SECRET is not set (scripts/run.sh exports it)")
    path = Path(store_path) if store_path else default_store_path()
    return GraphServer(host, port, store_path=path, client_secret=secret, **limits)


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="Microsoft Graph mail API simulator (the shared customer-service mailbox)",
        default_port=8705,
        limit_flags={"rate_limit_per_10min": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
