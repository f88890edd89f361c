"""HubSpot-like CRM v3 objects API over the SQLite store `SIM_DATA_DIR/crm.sqlite`.

    python -m simulators.crm_api --port 8701 [--rate-limit-per-10s 100] [--search-per-second 5]

The store is read on every request, so changes made by the generator or by
`POST /_sim/touch` are seen at once. Contract: simulators/README.md.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from simulators import crm_engagements, stores
from simulators.httpbase import (
    ApiError,
    LimitState,
    Request,
    Response,
    Route,
    SimServer,
    json_error,
    parse_instant,
    run_cli,
    serve_in_thread,
)

__all__ = ["CrmServer", "make_server", "main", "serve_in_thread"]

LIST_MAX_LIMIT = 100
SEARCH_MAX_LIMIT = 200
SEARCH_MAX_RESULTS = 10_000  # HubSpot's search cannot page past this
SEARCH_MAX_GROUPS, SEARCH_MAX_FILTERS_PER_GROUP = 5, 6

# What HubSpot returns when a client names no properties.
DEFAULT_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "hs_ticket_category"),
}
# The property holding an object's last modification: `lastmodifieddate` on contacts,
# `hs_lastmodifieddate` on every other object (HubSpot's search guide). A contact has no
# searchable `hs_lastmodifieddate` although its catalogue lists one: a search on it finds nothing.
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}
DEFAULT_MODIFIED_PROPERTY = "hs_lastmodifieddate"


def modified_property(object_type: str) -> str:
    return MODIFIED_PROPERTY.get(object_type, DEFAULT_MODIFIED_PROPERTY)


def always_properties(object_type: str) -> dict[str, str]:
    """Returned on every object whatever was asked, with the store column to fall back on."""
    return {"hs_object_id": "id", "createdate": "created_at", modified_property(object_type): "updated_at"}


_PROPERTY_NAME = re.compile(r"[A-Za-z0-9_]+")
# The store's own timestamp format (`2025-03-04T07:12:33.120Z`): such values already compare as instants.
_CANONICAL_INSTANT = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"


_MODIFIED_COLUMN = "updated_at"


def _hubspot_error(status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any) -> ApiError:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}
    return json_error(status, {**body, **extra})


@lru_cache(maxsize=65536)
def _instant_text(value: str | None) -> str | None:
    """SQL function: any stored date (no milliseconds, an offset, epoch ms) in the store's canonical format."""
    if not value:
        return None
    try:
        return stores.iso_utc(parse_instant(value))
    except (ValueError, OverflowError):
        return None


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _guess_type(name: str) -> str:
    """Property type when the store's `properties` table does not say."""
    if name.endswith(("date", "_at", "timestamp")) or name.startswith("date_"):
        return "datetime"
    if name.startswith("nb_") or name in ("hs_object_id", "hs_response_value"):
        return "number"
    return "string"


def _singular(object_type: str) -> str:
    return object_type[:-1] if object_type.endswith("s") else object_type


def _int_arg(raw: Any, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise _hubspot_error(400, f"{name} must be an integer") from exc
    if not 1 <= value <= maximum:
        raise _hubspot_error(400, f"{name} must be between 1 and {maximum}, got {value}")
    return value


# One page of the list endpoint: ids after the cursor, in id order (stores.objects_by_number serves it).
LIST_PAGE_SQL = (
    "select id, properties, created_at, updated_at, archived from objects "
    "where object_type = ? and archived = ? and cast(id as integer) > ? "
    "order by cast(id as integer) limit ?"
)


def search_page_sql(where: str, order: str) -> str:
    """One search page; the window count gives the total in the same pass."""
    return (
        "select id, properties, created_at, updated_at, archived, count(*) over () as total "
        f"from objects where {where} order by {order} limit ? offset ?"
    )


def _id_cursor(after: str | None) -> int:
    """List cursors are the last id served; -1 starts from the beginning."""
    if not after:
        return -1
    if not re.fullmatch(r"\d+", after):
        raise _hubspot_error(400, f"after must be a value returned in paging.next.after, got {after!r}")
    return int(after)


class CrmServer(SimServer):
    name = "crm"
    # HubSpot Professional private apps: 190 requests per 10 s, search 5 per second.
    fault_defaults = {"rate_limit_per_10s": 190, "search_per_second": 5, "missing_scopes": ""}
    limiter_settings = {"default": ("rate_limit_per_10s", 10.0), "search": ("search_per_second", 1.0)}

    def __init__(self, host: str, port: int, *, store_path: Path, token: str, **faults: Any):
        self.store_path = store_path
        super().__init__(host, port, token=token, **faults)
        stores.connect_crm(store_path).close()  # an empty store until the generator fills it

    def routes(self) -> list[Route]:
        return [
            Route("GET", r"/crm/v3/objects/(?P<object_type>[^/]+)", self.list_objects),
            Route("POST", r"/crm/v3/objects/(?P<object_type>[^/]+)/search", self.search, ("default", "search")),
            Route("GET", r"/crm/v3/owners/?", self.owners),
            Route("GET", r"/crm/v3/properties/(?P<object_type>[^/]+)", self.properties),
            Route("POST", r"/_sim/touch", self.touch),
            *crm_engagements.routes(self),  # tasks and lists (the write side)
        ]

    # ---- HubSpot's error shapes
    def unauthorized(self, req: Request, *, missing: bool) -> Response:
        message = (
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
            "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
            if missing
            else "The access token provided is not valid."
        )
        return _hubspot_error(401, message, "INVALID_AUTHENTICATION").response

    def rate_limited(self, limiter: str, retry_after: int) -> Response:
        policy = "SECONDLY" if limiter == "search" else "TEN_SECONDLY_ROLLING"
        body = {
            "status": "error",
            "message": f"You have reached your {policy.lower()} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
        }
        return Response(429, body)

    def failure(self, status: int) -> Response:
        category = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
        return _hubspot_error(status, HTTPStatus(status).phrase, category).response

    def limit_headers(self, states: dict[str, LimitState]) -> dict[str, str]:
        state = states.get("default")
        if state is None or state.limit <= 0:
            return {}
        return {
            "X-HubSpot-RateLimit-Max": str(state.limit),
            "X-HubSpot-RateLimit-Remaining": str(state.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(state.window * 1000)),
        }

    # ---- store access
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = stores.connect_crm(self.store_path)
        conn.create_function("instant_text", 1, _instant_text, deterministic=True)
        conn.create_function("num", 1, _num, deterministic=True)
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _object_type(value: str) -> str:
        if value not in stores.CRM_OBJECT_TYPES:
            raise _hubspot_error(400, f"Unable to infer object type from: {value}")
        return value

    # ---- endpoints
    def list_objects(self, req: Request) -> Response:
        object_type = self._object_type(req.params["object_type"])
        limit = _int_arg(req.arg("limit"), "limit", 10, LIST_MAX_LIMIT)
        after = _id_cursor(req.arg("after"))
        archived = (req.arg("archived") or "false").lower() == "true"
        wanted = _split_names(req.query.get("properties"))
        assoc_types = _split_names(req.query.get("associations")) or []
        for other in assoc_types:
            self._object_type(other)
        with self._db() as conn:
            rows = conn.execute(LIST_PAGE_SQL, (object_type, int(archived), after, limit + 1)).fetchall()
            page = rows[:limit]
            results = [_to_object(object_type, row, wanted) for row in page]
            if assoc_types and page:
                links = _associations(conn, object_type, [r["id"] for r in page], assoc_types)
                for obj in results:
                    if obj["id"] in links:
                        obj["associations"] = links[obj["id"]]
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            cursor = page[-1]["id"]
            query = {**req.query, "after": [cursor]}
            link = f"http://{req.host}{req.path}?{urlencode(query, doseq=True)}"
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return Response(200, body)

    def search(self, req: Request) -> Response:
        object_type = self._object_type(req.params["object_type"])
        spec = req.json_object()
        limit = _int_arg(spec.get("limit"), "limit", 10, SEARCH_MAX_LIMIT)
        offset = str(spec.get("after") or "0")
        if not offset.isdigit():
            raise _hubspot_error(400, f"after must be a number of results to skip, got {offset!r}")
        offset_n = int(offset)
        if offset_n >= SEARCH_MAX_RESULTS:
            raise _hubspot_error(
                400,
                f"Search results are limited to {SEARCH_MAX_RESULTS} records; after={offset_n} pages past them. "
                f"Narrow the search (for example on {modified_property(object_type)}) and page again.",
            )
        wanted = _split_names(spec.get("properties")) or None
        with self._db() as conn:
            query = _SearchQuery(object_type, _property_types(conn, object_type))
            where, params = query.where(spec.get("filterGroups") or [])
            order = query.order_by(spec.get("sorts") or [])
            rows = conn.execute(
                search_page_sql(where, order), [*params, min(limit, SEARCH_MAX_RESULTS - offset_n), offset_n]
            ).fetchall()
            if rows:
                total = rows[0]["total"]
            else:
                total = conn.execute(f"select count(*) from objects where {where}", params).fetchone()[0]
        body: dict[str, Any] = {"total": total, "results": [_to_object(object_type, r, wanted) for r in rows]}
        if offset_n + len(rows) < total:
            # As on HubSpot, the cursor may point at the 10,000th result; following it is refused.
            body["paging"] = {"next": {"after": str(offset_n + len(rows))}}
        return Response(200, body)

    def owners(self, req: Request) -> Response:
        limit = _int_arg(req.arg("limit"), "limit", 100, 500)
        after = _id_cursor(req.arg("after"))
        archived = (req.arg("archived") or "false").lower() == "true"
        with self._db() as conn:
            rows = conn.execute(
                "select * from owners where archived = ? and cast(id as integer) > ? "
                "order by cast(id as integer) limit ?",
                (int(archived), after, limit + 1),
            ).fetchall()
        results = [
            {
                "id": r["id"],
                "email": r["email"],
                "firstName": r["first_name"],
                "lastName": r["last_name"],
                "userId": r["user_id"],
                "createdAt": r["created_at"],
                "updatedAt": r["updated_at"],
                "archived": bool(r["archived"]),
                "teams": [],
            }
            for r in rows[:limit]
        ]
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            cursor = results[-1]["id"]
            link = f"http://{req.host}{req.path}?{urlencode({**req.query, 'after': [cursor]}, doseq=True)}"
            body["paging"] = {"next": {"after": cursor, "link": link}}
        return Response(200, body)

    def properties(self, req: Request) -> Response:
        object_type = self._object_type(req.params["object_type"])
        with self._db() as conn:
            rows = conn.execute(
                "select name, label, type, field_type from properties where object_type = ? order by name",
                (object_type,),
            ).fetchall()
            if not rows:  # no declared schema: every key present on some object, typed by its name
                names = conn.execute(
                    "select distinct j.key from objects, json_each(objects.properties) as j "
                    "where objects.object_type = ? order by 1",
                    (object_type,),
                ).fetchall()
                rows = [(n[0], None, _guess_type(n[0]), None) for n in names]
        field_types = {"datetime": "date", "date": "date", "number": "number"}
        results = [
            {
                "name": name,
                "label": label or name,
                "type": ptype or "string",
                "fieldType": field_type or field_types.get(ptype or "", "text"),
            }
            for name, label, ptype, field_type in rows
        ]
        return Response(200, {"results": results})

    def touch(self, req: Request) -> Response:
        """Test switch: bump objects' modification date (their own property) to now and merge properties."""
        spec = req.json_object()
        object_type = self._object_type(str(spec.get("object_type")))
        ids = [str(i) for i in spec.get("ids") or []]
        changes = spec.get("properties") or {}
        now = stores.now_iso()
        with self._db() as conn:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"select * from objects where object_type = ? and id in ({marks})", (object_type, *ids)
            ).fetchall()
            updated = []
            for row in rows:
                props = {**json.loads(row["properties"]), **changes, modified_property(object_type): now}
                archived = spec.get("archived", bool(row["archived"]))
                updated.append(
                    {
                        "id": row["id"],
                        "properties": props,
                        "created_at": row["created_at"],
                        "updated_at": now,
                        "archived": archived,
                    }
                )
            if updated:
                stores.upsert_crm_objects(conn, object_type, updated)
        found = {u["id"] for u in updated}
        return Response(
            200, {"touched": sorted(found, key=int), "missing": [i for i in ids if i not in found], "updatedAt": now}
        )


def _split_names(values: Any) -> list[str] | None:
    """`properties=a,b`, repeated `properties=a&properties=b`, or a JSON list; None when absent."""
    if not values:
        return None
    if isinstance(values, str):
        values = [values]
    return [name.strip() for value in values for name in str(value).split(",") if name.strip()]


def _to_object(object_type: str, row: sqlite3.Row, wanted: list[str] | None) -> dict[str, Any]:
    stored = json.loads(row["properties"])
    always = always_properties(object_type)
    names = wanted if wanted is not None else DEFAULT_PROPERTIES.get(object_type, ())
    properties = {name: stored.get(name) for name in names}
    for name, column in always.items():
        properties[name] = stored.get(name) or row[column]
    return {
        "id": row["id"],
        "properties": properties,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "archived": bool(row["archived"]),
    }


def _associations(
    conn: sqlite3.Connection, object_type: str, ids: list[str], to_types: list[str]
) -> dict[str, dict[str, Any]]:
    """{object id: {"contacts": {"results": [{"id", "type"}]}}}, whichever direction the link was stored in."""
    out: dict[str, dict[str, Any]] = {}
    marks = ",".join("?" * len(ids))
    for to_type in to_types:
        label = f"{_singular(object_type)}_to_{_singular(to_type)}"
        rows = conn.execute(
            f"select from_id, to_id from associations where from_type = ? and to_type = ? and from_id in ({marks}) "
            f"union select to_id, from_id from associations where to_type = ? and from_type = ? and to_id in ({marks})",
            (object_type, to_type, *ids, object_type, to_type, *ids),
        ).fetchall()
        for own_id, other_id in sorted(rows, key=lambda r: (r[0], _num(r[1]) or 0, r[1])):
            block = out.setdefault(own_id, {}).setdefault(to_type, {"results": []})
            block["results"].append({"id": other_id, "type": label})
    return out


def _property_types(conn: sqlite3.Connection, object_type: str) -> dict[str, str]:
    rows = conn.execute("select name, type from properties where object_type = ?", (object_type,)).fetchall()
    return {name: ptype for name, ptype in rows if ptype}


def _contains_token(column: str, operator: str, value: Any) -> tuple[str, list[Any]]:
    """HubSpot's token match: a whole word of the property (a `*` in the value is a wildcard)."""
    token = str(value or "").strip().lower()
    if not token or not re.fullmatch(r"[\w*@.-]+", token):
        raise _hubspot_error(400, f"CONTAINS_TOKEN needs one token, got {value!r}")
    pattern = token.replace("*", "%")
    # the text between separators (space and the usual punctuation) is a token
    padded = (
        f"(' ' || replace(replace(replace(lower(coalesce({column}, '')), char(10), ' '), ',', ' '), ':', ' ') || ' ')"
    )
    sql = f"{padded} like ?"
    return (sql if operator == "CONTAINS_TOKEN" else f"not ({sql})"), [f"% {pattern} %"]


class _SearchQuery:
    """Translates HubSpot search filters and sorts into SQL over the JSON properties."""

    RANGE_OPERATORS = {"GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}

    def __init__(self, object_type: str, declared_types: dict[str, str]):
        self.object_type = object_type
        self.declared_types = declared_types

    def _column(self, name: Any) -> str:
        if not isinstance(name, str) or not _PROPERTY_NAME.fullmatch(name):
            raise _hubspot_error(400, f"Invalid propertyName {name!r}")
        if name == "hs_object_id":
            return "id"
        if name == modified_property(self.object_type):
            # HubSpot's system timestamp, searched through its index: the store's `updated_at` column
            # (canonical, indexed, written with the property by every writer). Reading it from the JSON
            # scanned every object of the type: 3-6 s a search page over 1.77 M tickets at scale 100.
            return _MODIFIED_COLUMN
        return f"json_extract(properties, '$.\"{name}\"')"

    def _kind(self, name: str, operator: str, values: list[Any]) -> str:
        declared = self.declared_types.get(name) or _guess_type(name)
        if declared in ("datetime", "date"):
            return "date"
        if declared == "number":
            return "number"
        # An undeclared property compared by range with numbers is compared as numbers.
        if operator in (*self.RANGE_OPERATORS, "BETWEEN") and all(_num(v) is not None for v in values):
            return "number"
        return "string"

    @staticmethod
    def _typed(kind: str, sql: str) -> str:
        if sql == _MODIFIED_COLUMN:  # canonical already: compared as is, so the index serves the range
            return sql
        if kind == "date":  # canonical values are compared in SQL; only the others go through Python
            return f"(case when {sql} glob '{_CANONICAL_INSTANT}' then {sql} else instant_text({sql}) end)"
        return f"num({sql})" if kind == "number" else f"lower({sql})"

    @staticmethod
    def _value(kind: str, name: str, value: Any) -> Any:
        if value is None:
            raise _hubspot_error(400, f"Filter on {name} needs a value")
        if kind == "date":
            try:
                return stores.iso_utc(parse_instant(value))
            except (ValueError, OverflowError) as exc:
                raise _hubspot_error(400, f"{value!r} is not a valid date for {name} (epoch ms or ISO-8601)") from exc
        if kind == "number":
            if _num(value) is None:
                raise _hubspot_error(400, f"{value!r} is not a valid number for {name}")
            return float(value)
        return str(value).lower()

    def _filter(self, f: Any) -> tuple[str, list[Any]]:
        if not isinstance(f, dict):
            raise _hubspot_error(400, "Each filter must be an object")
        name, operator = f.get("propertyName"), str(f.get("operator", "")).upper()
        column = self._column(name)
        if operator == "HAS_PROPERTY":
            return f"coalesce({column}, '') != ''", []
        if operator == "NOT_HAS_PROPERTY":
            return f"coalesce({column}, '') = ''", []
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            return _contains_token(column, operator, f.get("value"))
        raw_values = [f.get("value"), f.get("highValue")] if operator == "BETWEEN" else [f.get("value")]
        kind = self._kind(name, operator, raw_values)
        values = [self._value(kind, name, v) for v in raw_values]
        typed = self._typed(kind, column)
        if operator == "EQ":
            return f"{typed} = ?", values
        if operator == "NEQ":  # objects without the property are "not equal" too
            return f"({typed} is null or {typed} != ?)", values
        if operator in self.RANGE_OPERATORS:
            return f"{typed} {self.RANGE_OPERATORS[operator]} ?", values
        if operator == "BETWEEN":
            return f"{typed} between ? and ?", values
        raise _hubspot_error(400, f"Unsupported operator {operator!r}")

    def where(self, groups: Any) -> tuple[str, list[Any]]:
        if not isinstance(groups, list) or len(groups) > SEARCH_MAX_GROUPS:
            raise _hubspot_error(400, f"filterGroups must be a list of at most {SEARCH_MAX_GROUPS} groups")
        clauses, params = ["object_type = ?", "archived = 0"], [self.object_type]
        ors = []
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > SEARCH_MAX_FILTERS_PER_GROUP:
                raise _hubspot_error(
                    400, f"Each filter group needs a list of at most {SEARCH_MAX_FILTERS_PER_GROUP} filters"
                )
            ands = []
            for f in filters:
                sql, values = self._filter(f)
                ands.append(sql)
                params.extend(values)
            if ands:
                ors.append("(" + " and ".join(ands) + ")")
        if ors:
            clauses.append("(" + " or ".join(ors) + ")")
        return " and ".join(clauses), params

    def order_by(self, sorts: Any) -> str:
        terms = []
        for sort in sorts if isinstance(sorts, list) else []:
            if isinstance(sort, str):  # HubSpot also accepts "createdate" / "-createdate"
                name, descending = sort.lstrip("-"), sort.startswith("-")
            elif isinstance(sort, dict):
                name, descending = sort.get("propertyName"), str(sort.get("direction", "")).upper() == "DESCENDING"
            else:
                raise _hubspot_error(400, "Each sort must be an object or a property name")
            column = self._column(name)
            terms.append(f"{self._typed(self._kind(name, 'EQ', []), column)} {'desc' if descending else 'asc'}")
        terms.append("cast(id as integer)")
        return ", ".join(terms)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_path: str | Path | None = None,
    token: str | None = None,
    **limits: Any,
) -> CrmServer:
    """A CRM server, not yet serving: use `serve_in_thread(server)` or `server.serve_forever()`.

    `limits` are start-up fault settings, e.g. `rate_limit_per_10s=1000, search_per_second=50`.
    """
    token = token or os.environ.get("CRM_SIM_TOKEN")
    if not token:
        raise ValueError("CRM_SIM_TOKEN is not set (scripts/run.sh exports it)")
    path = Path(store_path) if store_path else stores.crm_store_path()
    return CrmServer(host, port, store_path=path, token=token, **limits)


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="HubSpot-like CRM v3 API simulator",
        default_port=8701,
        limit_flags={"rate_limit_per_10s": int, "search_per_second": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
