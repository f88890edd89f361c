"""The CRM simulator's write side: HubSpot's tasks API and v3 lists (static memberships).

Routes (added to `crm_api.CrmServer`):

- `POST /crm/v3/objects/tasks`: `properties` (hs_timestamp required; hs_task_subject, hs_task_body,
  hubspot_owner_id, hs_task_status, hs_task_priority, hs_task_type) and `associations`
  (`[{"to": {"id"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]`;
  204 = task to contact, 230 = task to ticket). 201 with the task; 400 VALIDATION_ERROR for a
  missing hs_timestamp, an owner that does not exist, an unknown option or association; 403
  MISSING_SCOPES without `crm.objects.contacts.write`. Tasks are CRM objects like the others:
  `GET /crm/v3/objects/tasks[/{id}]` and `POST /crm/v3/objects/tasks/search` read them
  (search knows HubSpot's CONTAINS_TOKEN operator).
- `GET /crm/v3/objects/{type}/{id}`: one object, with `properties` and `associations`.
- `POST /crm/v3/lists`: create a list (`name`, `objectTypeId` "0-1" for contacts, `processingType`
  MANUAL or SNAPSHOT); 400 if the name is taken.
- `GET /crm/v3/lists/object-type-id/{objectTypeId}/name/{listName}`: a list by name (404 if none).
- `GET /crm/v3/lists/{listId}/memberships`: the record ids in the list (paged, `after`).
- `PUT /crm/v3/lists/{listId}/memberships/add-and-remove` (`recordIdsToAdd`, `recordIdsToRemove`),
  `.../add` and `.../remove` (a JSON array of ids): ids that are no contact come back in
  `recordIdsMissing`; the answer spells the added ids `recordsIdsAdded`, as HubSpot does.
  Scope `crm.lists.write` (read: `crm.lists.read`).

Scopes: the fault setting `missing_scopes` (comma-separated, via `POST /_sim/faults`) lists the
scopes the private app's token lacks, to play the 403.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from simulators import stores
from simulators.httpbase import Request, Response, Route, parse_instant

if TYPE_CHECKING:
    from simulators.crm_api import CrmServer

FIRST_TASK_ID = 30_000_001
FIRST_LIST_ID = 101
TASK_TO = {204: "contacts", 230: "tickets"}  # HUBSPOT_DEFINED association types of a task
TASK_STATUSES = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
TASK_PRIORITIES = ("NONE", "LOW", "MEDIUM", "HIGH")
TASK_TYPES = ("CALL", "EMAIL", "TODO", "LINKED_IN", "MEETING")
OBJECT_TYPE_IDS = {"0-1": "contacts", "0-5": "tickets"}
CONTACTS_WRITE, LISTS_READ, LISTS_WRITE = "crm.objects.contacts.write", "crm.lists.read", "crm.lists.write"

_LISTS_SCHEMA = """
create table if not exists lists (
    list_id text primary key, name text not null unique, object_type_id text not null,
    processing_type text not null, created_at text not null, updated_at text not null
);
create table if not exists list_memberships (
    list_id text not null, record_id text not null, added_at text not null,
    primary key (list_id, record_id)
);
"""


def routes(server: CrmServer) -> list[Route]:
    return [
        Route("POST", r"/crm/v3/objects/tasks", lambda r: create_task(server, r)),
        Route("GET", r"/crm/v3/objects/(?P<object_type>[^/]+)/(?P<object_id>\d+)", lambda r: get_object(server, r)),
        Route("POST", r"/crm/v3/lists/?", lambda r: create_list(server, r)),
        Route(
            "GET",
            r"/crm/v3/lists/object-type-id/(?P<type_id>[^/]+)/name/(?P<name>[^/]+)",
            lambda r: list_by_name(server, r),
        ),
        Route("GET", r"/crm/v3/lists/(?P<list_id>\d+)/memberships", lambda r: memberships(server, r)),
        Route(
            "PUT",
            r"/crm/v3/lists/(?P<list_id>\d+)/memberships/(?P<op>add-and-remove|add|remove)",
            lambda r: change_memberships(server, r),
        ),
    ]


def _error(status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any):
    from simulators.crm_api import _hubspot_error

    return _hubspot_error(status, message, category, **extra)


def _require_scope(server: CrmServer, scope: str) -> None:
    missing = {s.strip() for s in str(server.faults["missing_scopes"]).split(",") if s.strip()}
    if scope in missing:
        raise _error(
            403,
            "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
            "here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": [scope]},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )


def _invalid_property(name: str, value: Any, error: str, message: str):
    detail = [{"isValid": False, "message": message, "error": error, "name": name, "propertyValue": value}]
    return _error(400, f"Property values were not valid: {json.dumps(detail)}", errors=detail)


@contextmanager
def _db(server: CrmServer) -> Iterator[sqlite3.Connection]:
    conn = stores.connect_crm(server.store_path)
    try:
        conn.executescript(_LISTS_SCHEMA)
        yield conn
    finally:
        conn.close()


def _next_id(conn: sqlite3.Connection, object_type: str, first: int) -> str:
    row = conn.execute("select max(cast(id as integer)) from objects where object_type = ?", (object_type,)).fetchone()
    return str(max(first, (row[0] or 0) + 1))


# ----------------------------------------------------------------------------- tasks
def create_task(server: CrmServer, req: Request) -> Response:
    _require_scope(server, CONTACTS_WRITE)
    body = req.json_object()
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _error(400, "Invalid input JSON: properties must be an object")
    props = {k: (None if v is None else str(v)) for k, v in props.items()}
    if not props.get("hs_timestamp"):
        # HubSpot's own answer (as reported in PipedreamHQ/pipedream#12366)
        raise _error(400, "Error creating TASK. Some required properties were not set.",
                     context={"properties": ["hs_timestamp"]})  # fmt: skip
    try:
        due = parse_instant(props["hs_timestamp"])
    except (ValueError, OverflowError):
        raise _invalid_property("hs_timestamp", props["hs_timestamp"], "INVALID_DATE", "not a date") from None
    for name, allowed in (("hs_task_status", TASK_STATUSES), ("hs_task_priority", TASK_PRIORITIES),
                          ("hs_task_type", TASK_TYPES)):  # fmt: skip
        value = props.get(name)
        if value is not None and value not in allowed:
            raise _invalid_property(name, value, "INVALID_OPTION", f"{value} was not one of the allowed options")
    associations = body.get("associations") or []
    with _db(server) as conn:
        owner = props.get("hubspot_owner_id")
        if owner and not conn.execute("select 1 from owners where id = ? and archived = 0", (owner,)).fetchone():
            raise _invalid_property("hubspot_owner_id", owner, "INVALID_OWNER_ID", f"{owner} is not a valid owner id")
        links = []
        for assoc in associations:
            to_id = str(((assoc or {}).get("to") or {}).get("id") or "")
            for kind in (assoc or {}).get("types") or []:
                type_id = int((kind or {}).get("associationTypeId") or 0)
                to_type = TASK_TO.get(type_id)
                if to_type is None or (kind or {}).get("associationCategory") != "HUBSPOT_DEFINED":
                    raise _error(400, f"Invalid association type {type_id} from tasks", errors=[
                        {"message": f"associationTypeId {type_id} is not valid for tasks", "code": "INVALID_ASSOCIATION"}
                    ])  # fmt: skip
                found = conn.execute(
                    "select 1 from objects where object_type = ? and id = ? and archived = 0", (to_type, to_id)
                ).fetchone()
                if not found:
                    raise _error(400, f"One or more associations are invalid: {to_type} {to_id} does not exist",
                                 errors=[{"message": f"{to_type} {to_id} not found", "code": "INVALID_ASSOCIATION"}])  # fmt: skip
                links.append(("tasks", to_type, to_id))
        now = stores.now_iso()
        task_id = _next_id(conn, "tasks", FIRST_TASK_ID)
        stored = {
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "NONE",
            "hs_task_type": "TODO",
            **props,
            "hs_timestamp": stores.iso_utc(due),
            "hs_object_id": task_id,
            "hs_createdate": now,
            "createdate": now,
            "hs_lastmodifieddate": now,
        }
        stores.upsert_crm_objects(
            conn, "tasks", [{"id": task_id, "properties": stored, "created_at": now, "updated_at": now}]
        )
        stores.replace_crm_associations(conn, ((f, task_id, t, i) for f, t, i in links))
    return Response(201, {"id": task_id, "properties": stored, "createdAt": now, "updatedAt": now, "archived": False})


def get_object(server: CrmServer, req: Request) -> Response:
    from simulators.crm_api import _associations, _split_names, _to_object

    object_type = server._object_type(req.params["object_type"])
    object_id = req.params["object_id"]
    wanted = _split_names(req.query.get("properties"))
    assoc_types = _split_names(req.query.get("associations")) or []
    with _db(server) as conn:
        row = conn.execute(
            "select id, properties, created_at, updated_at, archived from objects where object_type = ? and id = ?",
            (object_type, object_id),
        ).fetchone()
        if row is None or (row["archived"] and (req.arg("archived") or "false") != "true"):
            raise _error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        if wanted is None and object_type == "tasks":
            wanted = sorted(json.loads(row["properties"]))
        obj = _to_object(object_type, row, wanted)
        if assoc_types:
            for other in assoc_types:
                server._object_type(other)
            links = _associations(conn, object_type, [object_id], assoc_types)
            if object_id in links:
                obj["associations"] = links[object_id]
    return Response(200, obj)


# ----------------------------------------------------------------------------- lists
def _list_json(row: sqlite3.Row | tuple, size: int) -> dict[str, Any]:
    list_id, name, type_id, processing, created, updated = row[:6]
    return {
        "listId": list_id,
        "listVersion": 1,
        "name": name,
        "objectTypeId": type_id,
        "processingType": processing,
        "processingStatus": "COMPLETE",
        "createdAt": created,
        "updatedAt": updated,
        "size": size,
    }


def _list_row(conn: sqlite3.Connection, list_id: str) -> tuple:
    row = conn.execute(
        "select list_id, name, object_type_id, processing_type, created_at, updated_at from lists where list_id = ?",
        (list_id,),
    ).fetchone()
    if row is None:
        raise _error(404, f"List {list_id} does not exist", "OBJECT_NOT_FOUND")
    return tuple(row)


def _size(conn: sqlite3.Connection, list_id: str) -> int:
    return conn.execute("select count(*) from list_memberships where list_id = ?", (list_id,)).fetchone()[0]


def create_list(server: CrmServer, req: Request) -> Response:
    _require_scope(server, LISTS_WRITE)
    body = req.json_object()
    name = str(body.get("name") or "").strip()
    type_id = str(body.get("objectTypeId") or "")
    processing = str(body.get("processingType") or "")
    if not name:
        raise _error(400, "name is required")
    if type_id not in OBJECT_TYPE_IDS:
        raise _error(400, f"Unknown objectTypeId {type_id!r}")
    if processing not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
        raise _error(400, f"processingType must be MANUAL, SNAPSHOT or DYNAMIC, got {processing!r}")
    with _db(server) as conn:
        if conn.execute("select 1 from lists where lower(name) = lower(?)", (name,)).fetchone():
            raise _error(400, f"A list named {name!r} already exists", errors=[{"code": "LIST_NAME_ALREADY_EXISTS"}])
        row = conn.execute("select max(cast(list_id as integer)) from lists").fetchone()
        list_id = str(max(FIRST_LIST_ID, (row[0] or 0) + 1))
        now = stores.now_iso()
        conn.execute("insert into lists values (?, ?, ?, ?, ?, ?)", (list_id, name, type_id, processing, now, now))
        created = _list_row(conn, list_id)
    return Response(200, {"list": _list_json(created, 0)})


def list_by_name(server: CrmServer, req: Request) -> Response:
    _require_scope(server, LISTS_READ)
    name = unquote(req.params["name"])
    with _db(server) as conn:
        row = conn.execute(
            "select list_id, name, object_type_id, processing_type, created_at, updated_at from lists "
            "where lower(name) = lower(?) and object_type_id = ?",
            (name, req.params["type_id"]),
        ).fetchone()
        if row is None:
            raise _error(404, f"List does not exist with name {name!r}", "OBJECT_NOT_FOUND")
        return Response(200, {"list": _list_json(tuple(row), _size(conn, row[0]))})


def memberships(server: CrmServer, req: Request) -> Response:
    _require_scope(server, LISTS_READ)
    from simulators.crm_api import _int_arg

    limit = _int_arg(req.arg("limit"), "limit", 100, 250)
    after = req.arg("after") or ""
    with _db(server) as conn:
        _list_row(conn, req.params["list_id"])
        rows = conn.execute(
            "select record_id, added_at from list_memberships where list_id = ? and cast(record_id as integer) > ? "
            "order by cast(record_id as integer) limit ?",
            (req.params["list_id"], int(after) if after.isdigit() else -1, limit + 1),
        ).fetchall()
    results = [{"recordId": r[0], "membershipTimestamp": r[1]} for r in rows[:limit]]
    body: dict[str, Any] = {"results": results}
    if len(rows) > limit:
        cursor = results[-1]["recordId"]
        body["paging"] = {
            "next": {"after": cursor, "link": f"http://{req.host}{req.path}?{urlencode({'after': cursor})}"}
        }
    return Response(200, body)


def change_memberships(server: CrmServer, req: Request) -> Response:
    _require_scope(server, LISTS_WRITE)
    op = req.params["op"]
    body = req.json()
    if op == "add-and-remove":
        if not isinstance(body, dict):
            raise _error(400, "expected an object with recordIdsToAdd and recordIdsToRemove")
        to_add, to_remove = body.get("recordIdsToAdd") or [], body.get("recordIdsToRemove") or []
    elif isinstance(body, list):
        to_add, to_remove = (body, []) if op == "add" else ([], body)
    else:
        raise _error(400, "expected a JSON array of record ids")
    to_add, to_remove = [str(i) for i in to_add], [str(i) for i in to_remove]
    if any(not re.fullmatch(r"\d+", i) for i in to_add + to_remove):
        raise _error(400, "record ids must be numeric strings")
    with _db(server) as conn:
        list_id, _, type_id, processing = _list_row(conn, req.params["list_id"])[:4]
        if processing not in ("MANUAL", "SNAPSHOT"):
            raise _error(400, f"List {list_id} is {processing}: its memberships cannot be changed by hand")
        object_type = OBJECT_TYPE_IDS[type_id]
        marks = ",".join("?" * len(to_add + to_remove)) or "''"
        existing = {
            r[0]
            for r in conn.execute(
                f"select id from objects where object_type = ? and archived = 0 and id in ({marks})",
                (object_type, *to_add, *to_remove),
            )
        }
        members = {r[0] for r in conn.execute("select record_id from list_memberships where list_id = ?", (list_id,))}
        now = stores.now_iso()
        added = [i for i in dict.fromkeys(to_add) if i in existing and i not in members]
        removed = [i for i in dict.fromkeys(to_remove) if i in members]
        missing = [i for i in dict.fromkeys(to_add + to_remove) if i not in existing and i not in members]
        conn.execute("begin")
        conn.executemany("insert into list_memberships values (?, ?, ?)", [(list_id, i, now) for i in added])
        conn.executemany(
            "delete from list_memberships where list_id = ? and record_id = ?", [(list_id, i) for i in removed]
        )
        conn.execute("update lists set updated_at = ? where list_id = ?", (now, list_id))
        conn.execute("commit")
    return Response(200, {"recordIdsMissing": missing, "recordIdsRemoved": removed, "recordsIdsAdded": added})
