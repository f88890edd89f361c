"""HubSpot CRM v3 client and the loads of its objects into `raw_crm`.

Full loads page the objects list endpoint (ordered by id, `after` cursor): each record
exactly once, even when records change meanwhile. Incremental loads use the search
endpoint on the object's last-modification property — `lastmodifieddate` on contacts,
`hs_lastmodifieddate` on every other object (a contact search on `hs_lastmodifieddate`
answers 200 with nothing) — but page by *keyset* (restart from the last seen timestamp)
instead of the `after` offset: an offset skips a record whenever another one moves out of
the sorted result set mid-paging, and search cannot page past 10,000 results anyway.

A search that finds nothing is a quiet day only if HubSpot agrees: every load records the
object's total (an unfiltered search), and an incremental load that finds nothing while
the total grew since the last load — records were created, so something was modified —
fails, naming the object and the property, unless the same search without the interval's
end finds the changes (they belong to a later interval).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cs_analytics.config import CRM_CONN_ID, IngestSettings
from cs_analytics.ingestion.api_load import ApiRecord, load_api_object
from cs_analytics.ingestion.batch import BatchContext, LoadResult, MissingRequiredColumn, is_in_the_future, reconcile
from cs_analytics.ingestion.http_client import ApiSession, session_from_connection
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

SOURCE = "crm"
# The property holding an object's last modification, as HubSpot names it per object type.
MODIFIED_PROPERTIES = {"contacts": "lastmodifieddate"}
DEFAULT_MODIFIED_PROPERTY = "hs_lastmodifieddate"
OBJECTS = ("contacts", "tickets", "feedback_submissions", "p_survey_invitations")
# Properties the models downstream cannot do without: their absence is a schema change to stop on
# (each object's modification property is required too, see required_properties()).
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "phone", "statut_client"),
    "tickets": ("hs_pipeline_stage", "hs_ticket_category", "createdate"),
    "feedback_submissions": ("hs_survey_type", "hs_response_value", "hs_submission_timestamp"),
    "p_survey_invitations": ("survey_type", "sent_at"),
}
RAW_TABLES = {**{obj: f"raw_crm.{obj.removeprefix('p_')}" for obj in OBJECTS}, "owners": "raw_crm.owners"}


class SearchMissedChanges(RuntimeError):
    """An incremental search found nothing although the source's total grew: the load would
    commit nothing and look green while records were created at the source."""


def modified_property(object_type: str) -> str:
    return MODIFIED_PROPERTIES.get(object_type, DEFAULT_MODIFIED_PROPERTY)


def required_properties(object_type: str) -> tuple[str, ...]:
    return (*REQUIRED_PROPERTIES.get(object_type, ()), modified_property(object_type))


def parse_instant(value: Any) -> datetime:
    """HubSpot instants: ISO-8601 (with Z) or epoch milliseconds."""
    if value is None or value == "":
        raise ValueError("missing timestamp")
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {text!r}")
    return ts


def _epoch_ms(ts: datetime) -> str:
    return str(int(ts.timestamp() * 1000))


class HubSpotClient:
    def __init__(self, api: ApiSession, page_size: int = 100, search_page_size: int = 200):
        self.api = api
        self.page_size = page_size
        self.search_page_size = search_page_size

    @classmethod
    def from_connection(cls, conn_id: str = CRM_CONN_ID, settings: IngestSettings | None = None) -> HubSpotClient:
        return cls(session_from_connection(conn_id, settings or IngestSettings.from_env()))

    def property_names(self, object_type: str) -> list[str]:
        data = self.api.request("GET", f"/crm/v3/properties/{object_type}")
        return sorted(p["name"] for p in data.get("results", []))

    def list_objects(self, object_type: str, properties: list[str]) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size, "properties": ",".join(properties), "archived": "false"}
            if after:
                params["after"] = after
            page = self.api.request("GET", f"/crm/v3/objects/{object_type}", params=params)
            yield from page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def count(self, object_type: str, filters: list[dict[str, Any]] | None = None) -> int:
        """HubSpot's `total` for a search (archived records are never counted); one request."""
        body: dict[str, Any] = {"limit": 1, "properties": ["hs_object_id"]}
        if filters:
            body["filterGroups"] = [{"filters": filters}]
        page = self.api.request("POST", f"/crm/v3/objects/{object_type}/search", json=body)
        return int(page.get("total", 0))

    def count_modified_since(self, object_type: str, since: datetime) -> int:
        prop = modified_property(object_type)
        return self.count(object_type, [{"propertyName": prop, "operator": "GTE", "value": _epoch_ms(since)}])

    def search_modified(
        self, object_type: str, since: datetime, until: datetime | None, properties: list[str]
    ) -> Iterator[dict[str, Any]]:
        prop = modified_property(object_type)
        cursor = since
        seen_at_cursor: set[str] = set()
        offset = 0  # only used when a whole page shares one timestamp
        while True:
            filters = [{"propertyName": prop, "operator": "GTE", "value": _epoch_ms(cursor)}]
            if until is not None:
                filters.append({"propertyName": prop, "operator": "LT", "value": _epoch_ms(until)})
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                "properties": properties,
                "limit": self.search_page_size,
                "after": str(offset),
            }
            page = self.api.request("POST", f"/crm/v3/objects/{object_type}/search", json=body)
            results = page.get("results", [])
            for rec in results:
                if rec.get("id") not in seen_at_cursor:
                    yield rec
            has_next = bool((page.get("paging") or {}).get("next"))
            if not results or not has_next:
                return
            last_ts = _modified(results[-1], object_type)
            if last_ts > cursor:
                cursor = last_ts
                seen_at_cursor = {r["id"] for r in results if _modified(r, object_type) == last_ts}
                offset = 0
            else:  # the page is one timestamp wide: step through it by offset
                seen_at_cursor |= {r["id"] for r in results}
                offset += len(results)

    def owners(self) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if after:
                params["after"] = after
            page = self.api.request("GET", "/crm/v3/owners", params=params)
            yield from page.get("results", [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return


def _modified(rec: dict[str, Any], object_type: str) -> datetime:
    return parse_instant((rec.get("properties") or {}).get(modified_property(object_type)) or rec.get("updatedAt"))


def parse_object(obj: dict[str, Any], object_type: str) -> ApiRecord:
    if not obj.get("id"):
        raise ValueError("record has no id")
    if not isinstance(obj.get("properties"), dict):
        raise ValueError("record has no properties object")
    for name, value in obj["properties"].items():
        if isinstance(value, dict | list):  # HubSpot serves every property as text: this is not HubSpot's data
            raise ValueError(
                f"{name}: expected a text value, got {'an object' if isinstance(value, dict) else 'a list'}"
            )
    return ApiRecord(
        id=str(obj["id"]),
        updated_at=_modified(obj, object_type),
        created_at=parse_instant(obj["createdAt"]) if obj.get("createdAt") else None,
        archived=bool(obj.get("archived", False)),
        payload=obj,
    )


def parse_owner(obj: dict[str, Any]) -> ApiRecord:
    if not obj.get("id"):
        raise ValueError("owner has no id")
    return ApiRecord(
        id=str(obj["id"]),
        updated_at=parse_instant(obj.get("updatedAt")),
        created_at=parse_instant(obj["createdAt"]) if obj.get("createdAt") else None,
        archived=bool(obj.get("archived", False)),
        payload=obj,
    )


def load_object(
    warehouse: Warehouse,
    client: HubSpotClient,
    object_type: str,
    ctx: BatchContext,
    settings: IngestSettings | None = None,
) -> LoadResult:
    """Load one CRM object type for the batch's interval (the whole history on a fresh warehouse)."""
    if object_type == "owners":
        # Small and without a search endpoint: read in full; unchanged owners are left untouched.
        return load_api_object(
            warehouse,
            ctx,
            RAW_TABLES["owners"],
            "/crm/v3/owners",
            lambda since, until: client.owners(),
            parse_owner,
            settings,
        )

    properties = client.property_names(object_type)
    for required in required_properties(object_type):
        if required not in properties:
            raise MissingRequiredColumn(SOURCE, object_type, required, "not in /crm/v3/properties")
    prop = modified_property(object_type)
    detail: dict[str, Any] = {"modified_property": prop}

    def fetch(since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
        yielded = 0
        for rec in _fetch(since, until):
            yielded += 1
            yield rec
        # HubSpot's own count of the window: the load must have got at least that many (records
        # modified while we paged may join the window, none can leave it before its end).
        window = [] if since is None else [{"propertyName": prop, "operator": "GTE", "value": _epoch_ms(since)}]
        if until is not None:
            window.append({"propertyName": prop, "operator": "LT", "value": _epoch_ms(until)})
        detail["source_window_count"] = client.count(object_type, window or None)
        # Records yielded are loaded or quarantined by the loader (its rows_read).
        reconcile(warehouse, ctx, "window", detail["source_window_count"], yielded, 0, at_least=True)

    def _fetch(since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
        if since is None:
            for rec in client.list_objects(object_type, properties):
                # A full load still stops at the interval end; later changes belong to later runs.
                try:
                    modified = _modified(rec, object_type)
                    # A record modified in the future is yielded for the loader to quarantine.
                    if until is None or modified < until or is_in_the_future(modified, ctx.loaded_at):
                        yield rec
                except ValueError:
                    yield rec  # unparsable: let the parser quarantine it with the reason
            detail["source_total"] = client.count(object_type)
        else:
            found = 0
            for rec in client.search_modified(object_type, since, until, properties):
                found += 1
                yield rec
            detail["source_total"] = client.count(object_type)
            if not found:
                # Raised inside the load's transaction: nothing is committed, not even the batch record.
                _prove_quiet_day(warehouse, client, object_type, ctx, since, detail["source_total"])

    return load_api_object(
        warehouse,
        ctx,
        RAW_TABLES[object_type],
        f"/crm/v3/objects/{object_type}",
        fetch,
        lambda obj: parse_object(obj, object_type),
        settings,
        detail=detail,
    )


def _previous_total(warehouse: Warehouse, ctx: BatchContext) -> tuple[int, str] | None:
    """The object's total recorded by the latest committed load before this one."""
    rows = warehouse.query(
        """
        select (detail->>'source_total')::bigint, batch_id from meta.load_batches
        where source = %s and object = %s and batch_id <> %s and detail ? 'source_total'
        order by finished_at desc limit 1
        """,
        (ctx.source, ctx.object, ctx.batch_id),
    )
    return (rows[0][0], rows[0][1]) if rows else None


def _prove_quiet_day(
    warehouse: Warehouse, client: HubSpotClient, object_type: str, ctx: BatchContext, since: datetime, total: int
) -> None:
    """The search found nothing in the window: a quiet day, or a search that cannot see the changes?

    Records created since the last load were modified since then too, so when the total grew
    the same search without the interval's end must find them. A total that fell proves
    nothing: an archived record leaves search results without a modification to find.
    """
    prop = modified_property(object_type)
    previous = _previous_total(warehouse, ctx)
    if previous is None:
        log.warning(
            "%s.%s: no record modified since %s and no earlier total to compare with", SOURCE, object_type, since
        )
        return
    before, batch = previous
    if total <= before:
        log.info(
            "%s.%s: no record modified since %s; total %d (was %d): a quiet day",
            SOURCE,
            object_type,
            since,
            total,
            before,
        )
        return
    later = client.count_modified_since(object_type, since)
    if later:
        log.info(
            "%s.%s: nothing modified in [%s, %s); %d record(s) modified since belong to a later interval",
            SOURCE, object_type, since, ctx.interval_end, later,
        )  # fmt: skip
        return
    raise SearchMissedChanges(
        f"{SOURCE}.{object_type}: the search on `{prop}` found no record modified since {since.isoformat()}, "
        f"yet HubSpot's total of {object_type} grew from {before} (batch {batch}) to {total}: records were "
        f"created that this search cannot see, so the property does not track {object_type}' changes "
        f"(HubSpot: `lastmodifieddate` on contacts, `hs_lastmodifieddate` on other objects). Nothing was committed."
    )
