"""Technicians' mobile app API client and the loads of its resources into `raw_app`.

The API pages by an `updated_since` filter and an opaque keyset cursor on
(updated_at, id): a record changed while we page is served again later, and the
loader keeps its latest version.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cs_analytics.config import MOBILE_APP_CONN_ID, IngestSettings
from cs_analytics.ingestion.api_load import ApiRecord, load_api_object
from cs_analytics.ingestion.batch import FUTURE_TOLERANCE, BatchContext, LoadResult, MissingRequiredColumn
from cs_analytics.ingestion.http_client import ApiSession, session_from_connection
from cs_analytics.warehouse import Warehouse

SOURCE = "mobile_app"
RESOURCES = ("technicians", "interventions", "field-quotes", "time-entries")
RAW_TABLES = {r: f"raw_app.{r.replace('-', '_')}" for r in RESOURCES}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "technicians": ("id", "updated_at", "first_name", "last_name"),
    "interventions": ("id", "updated_at", "technician_id", "customer_code", "type", "status", "scheduled_start"),
    "field-quotes": ("id", "updated_at", "technician_id", "amount_ht", "status"),
    "time-entries": ("id", "updated_at", "clock_in"),
}
# Every record names its owner in one of these fields (the time clock serves technicians and office staff).
OWNER_FIELDS: dict[str, tuple[str, ...]] = {"time-entries": ("technician_id", "staff_id")}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_iso(value: Any) -> datetime:
    if not value:
        raise ValueError("missing timestamp")
    ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {value!r}")
    return ts


class MobileAppClient:
    def __init__(self, api: ApiSession, page_size: int = 500):
        self.api = api
        self.page_size = page_size

    @classmethod
    def from_connection(
        cls, conn_id: str = MOBILE_APP_CONN_ID, settings: IngestSettings | None = None
    ) -> MobileAppClient:
        return cls(session_from_connection(conn_id, settings or IngestSettings.from_env()))

    def updated(
        self, resource: str, since: datetime | None, until: datetime | None, future_after: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records updated in [since, until); with `future_after`, also those updated after it (wrong
        clocks, for the loader to quarantine), read past `until` to the end of the list."""
        params: dict[str, Any] = {
            "limit": self.page_size,
            "updated_since": (since or EPOCH).astimezone(UTC).isoformat(),
        }
        while True:
            page = self.api.request("GET", f"/api/v1/{resource}", params=params)
            for rec in page.get("data", []):
                try:
                    updated_at = parse_iso(rec.get("updated_at"))
                    if until is not None and updated_at >= until:
                        if future_after is not None and updated_at > future_after:
                            yield rec
                            continue
                        if future_after is None:
                            return  # ordered by updated_at: the rest belongs to later intervals
                        continue
                except ValueError:
                    pass  # unparsable: the parser quarantines it with the reason
                yield rec
            if not page.get("has_more") or not page.get("next_cursor"):
                return
            params = {"limit": self.page_size, "cursor": page["next_cursor"]}


def make_parser(resource: str):
    required = REQUIRED_FIELDS[resource]

    def parse(obj: dict[str, Any]) -> ApiRecord:
        missing = [f for f in required if obj.get(f) in (None, "")]
        if missing:
            raise ValueError(f"missing required field(s) {', '.join(missing)}")
        nested = [f for f in required if isinstance(obj[f], dict | list)]
        if nested:  # downstream reads these as text: an object would pass as its JSON text
            kinds = ", ".join(
                f"{f}: expected a scalar, got {'an object' if isinstance(obj[f], dict) else 'a list'}" for f in nested
            )
            raise ValueError(kinds)
        owners = OWNER_FIELDS.get(resource, ())
        if owners and not any(obj.get(f) not in (None, "") for f in owners):
            raise ValueError(f"missing required field: one of {', '.join(owners)}")
        return ApiRecord(
            id=str(obj["id"]),
            updated_at=parse_iso(obj["updated_at"]),
            created_at=parse_iso(obj["created_at"]) if obj.get("created_at") else None,
            archived=bool(obj.get("deleted", False)),
            payload=obj,
        )

    return parse


def load_resource(
    warehouse: Warehouse,
    client: MobileAppClient,
    resource: str,
    ctx: BatchContext,
    settings: IngestSettings | None = None,
) -> LoadResult:
    def check_schema(sample: dict[str, Any]) -> None:
        # A field absent from the payload's keys (not merely empty) is a schema change, not bad data.
        for field in REQUIRED_FIELDS[resource]:
            if field not in sample:
                raise MissingRequiredColumn(SOURCE, resource, field, "absent from the API payload")

    return load_api_object(
        warehouse,
        ctx,
        RAW_TABLES[resource],
        f"/api/v1/{resource}",
        lambda since, until: client.updated(resource, since, until, ctx.loaded_at + FUTURE_TOLERANCE),
        make_parser(resource),
        settings,
        check_schema,
    )
