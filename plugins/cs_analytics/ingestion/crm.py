"""HubSpot CRM v3 client and the loads of its objects into `raw_crm`.

Full loads page the objects list endpoint (ordered by id, `after` cursor): each record
exactly once, even when records change meanwhile. Incremental loads use the search
endpoint on `hs_lastmodifieddate`, but page by *keyset* (restart from the last seen
timestamp) instead of the `after` offset: an offset skips a record whenever another
one moves out of the sorted result set mid-paging, and search cannot page past
10,000 results anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cs_analytics.config import CRM_CONN_ID, IngestSettings
from cs_analytics.ingestion.api_load import ApiRecord, load_api_object
from cs_analytics.ingestion.batch import BatchContext, LoadResult, MissingRequiredColumn
from cs_analytics.ingestion.http_client import ApiSession, session_from_connection
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

SOURCE = "crm"
MODIFIED_PROPERTY = "hs_lastmodifieddate"
OBJECTS = ("contacts", "tickets", "feedback_submissions", "p_survey_invitations")
# Properties the models downstream cannot do without: their absence is a schema change to stop on.
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("email", "phone", "statut_client", MODIFIED_PROPERTY),
    "tickets": ("hs_pipeline_stage", "hs_ticket_category", "createdate", MODIFIED_PROPERTY),
    "feedback_submissions": ("hs_survey_type", "hs_response_value", "hs_submission_timestamp", MODIFIED_PROPERTY),
    "p_survey_invitations": ("survey_type", "sent_at", MODIFIED_PROPERTY),
}
RAW_TABLES = {**{obj: f"raw_crm.{obj.removeprefix('p_')}" for obj in OBJECTS}, "owners": "raw_crm.owners"}


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

    def search_modified(
        self, object_type: str, since: datetime, until: datetime | None, properties: list[str]
    ) -> Iterator[dict[str, Any]]:
        cursor = since
        seen_at_cursor: set[str] = set()
        offset = 0  # only used when a whole page shares one timestamp
        while True:
            filters = [{"propertyName": MODIFIED_PROPERTY, "operator": "GTE", "value": _epoch_ms(cursor)}]
            if until is not None:
                filters.append({"propertyName": MODIFIED_PROPERTY, "operator": "LT", "value": _epoch_ms(until)})
            body = {
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": MODIFIED_PROPERTY, "direction": "ASCENDING"}],
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
            last_ts = parse_instant(results[-1]["properties"].get(MODIFIED_PROPERTY) or results[-1]["updatedAt"])
            if last_ts > cursor:
                cursor = last_ts
                seen_at_cursor = {r["id"] for r in results if _modified(r) == last_ts}
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


def _modified(rec: dict[str, Any]) -> datetime:
    return parse_instant((rec.get("properties") or {}).get(MODIFIED_PROPERTY) or rec.get("updatedAt"))


def parse_object(obj: dict[str, Any]) -> ApiRecord:
    if not obj.get("id"):
        raise ValueError("record has no id")
    if not isinstance(obj.get("properties"), dict):
        raise ValueError("record has no properties object")
    return ApiRecord(
        id=str(obj["id"]),
        updated_at=_modified(obj),
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
    for required in REQUIRED_PROPERTIES.get(object_type, ()):
        if required not in properties:
            raise MissingRequiredColumn(SOURCE, object_type, required, "not in /crm/v3/properties")

    def fetch(since: datetime | None, until: datetime | None) -> Iterator[dict[str, Any]]:
        if since is None:
            for rec in client.list_objects(object_type, properties):
                # A full load still stops at the interval end; later changes belong to later runs.
                try:
                    if until is None or _modified(rec) < until:
                        yield rec
                except ValueError:
                    yield rec  # unparsable: let the parser quarantine it with the reason
        else:
            yield from client.search_modified(object_type, since, until, properties)

    return load_api_object(
        warehouse, ctx, RAW_TABLES[object_type], f"/crm/v3/objects/{object_type}", fetch, parse_object, settings
    )
