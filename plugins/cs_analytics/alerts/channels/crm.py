"""The CRM as a channel: HubSpot tasks for alerts someone must act on, and the retention list.

`HubSpotWriter` holds the few calls (HubSpot CRM v3, private-app token of the `crm_api`
connection, the ingestion's HTTP client with its retry rules):

- `create_task` — `POST /crm/v3/objects/tasks` with hs_task_subject, hs_task_body, hs_timestamp
  (due), hubspot_owner_id, hs_task_status, hs_task_priority, hs_task_type and associations to
  contacts (type 204) and tickets (type 230);
- `find_task` — search tasks whose body holds the alert's reference token;
- `list_id` / `memberships` / `change_memberships` — v3 lists: find (or create, MANUAL) a
  contact list by name, read its members, add and remove in one call.

One task per alert key, ever: the outbox stores the task id as the message's external id and
never sends a delivered message again; a message whose previous attempt died mid-call
(`uncertain`) first searches for the task by its reference before creating one. A list sync
carries the whole wanted membership: it adds who is missing and removes who left the campaign,
so a retry or a re-run converges on the same list.

Errors: 400 (bad owner, bad association, bad option) fails the message for good; 401/403
(token, missing scope) and 5xx are retried later; 429 waits Retry-After (in the HTTP client).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from cs_analytics.alerts.messages import CrmListSync, CrmTask
from cs_analytics.alerts.outbox import PermanentError, StoredMessage, TransientError
from cs_analytics.config import CRM_CONN_ID, IngestSettings

CONTACTS_OBJECT_TYPE_ID = "0-1"
TASK_TO_CONTACT, TASK_TO_TICKET = 204, 230


def reference_token(key: str) -> str:
    """A word that identifies the alert in the task body (searchable with CONTAINS_TOKEN)."""
    return "csa-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _translate(exc: Exception, what: str) -> Exception:
    from cs_analytics.ingestion.http_client import SourceAuthError, SourceRequestError

    if isinstance(exc, SourceAuthError):
        return TransientError(f"{what}: {exc}")
    if isinstance(exc, SourceRequestError) and re.match(r"4\d\d on ", str(exc)) and not str(exc).startswith("429"):
        return PermanentError(f"{what}: {exc}")
    return TransientError(f"{what}: {exc}")


class HubSpotWriter:
    def __init__(self, api):
        self.api = api

    @classmethod
    def from_connection(cls, conn_id: str = CRM_CONN_ID) -> HubSpotWriter:
        from cs_analytics.ingestion.http_client import session_from_connection

        settings = IngestSettings.from_env()
        # the outbox retries later: a short in-call retry for a blip, no long stall
        return cls(session_from_connection(conn_id, IngestSettings(http_timeout_s=settings.http_timeout_s,
                                                                   http_max_retries=2)))  # fmt: skip

    def _request(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        from cs_analytics.ingestion.http_client import SourceAuthError, SourceRequestError

        try:
            return self.api.request(method, path, **kwargs)
        except (SourceAuthError, SourceRequestError) as exc:
            raise _translate(exc, what) from exc

    # ---- tasks
    def create_task(self, task: CrmTask, reference: str) -> str:
        associations = [
            {"to": {"id": str(i)}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}
            for ids, type_id in ((task.contact_ids, TASK_TO_CONTACT), (task.ticket_ids, TASK_TO_TICKET))
            for i in ids
        ]
        body = {
            "properties": {
                "hs_task_subject": task.subject[:255],
                "hs_task_body": f"{task.body}\n\nRéf. : {reference}",
                "hs_timestamp": task.due_at.isoformat(),
                "hubspot_owner_id": task.owner_id,
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": task.priority,
                "hs_task_type": task.task_type,
            },
            "associations": associations,
        }
        return str(self._request("create task", "POST", "/crm/v3/objects/tasks", json=body)["id"])

    def find_task(self, reference: str) -> str | None:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_task_body", "operator": "CONTAINS_TOKEN", "value": reference}]}
            ],  # fmt: skip
            "properties": ["hs_task_subject"],
            "limit": 2,
        }
        results = self._request("search task", "POST", "/crm/v3/objects/tasks/search", json=body).get("results", [])
        return str(results[0]["id"]) if results else None

    # ---- lists
    def list_id(self, name: str) -> str:
        from cs_analytics.ingestion.http_client import SourceRequestError

        path = f"/crm/v3/lists/object-type-id/{CONTACTS_OBJECT_TYPE_ID}/name/{quote(name, safe='')}"
        try:
            return str(self.api.request("GET", path)["list"]["listId"])
        except SourceRequestError as exc:
            if not str(exc).startswith("404"):
                raise _translate(exc, f"find list {name!r}") from exc
        except Exception as exc:
            raise _translate(exc, f"find list {name!r}") from exc
        created = self._request(
            f"create list {name!r}",
            "POST",
            "/crm/v3/lists",
            json={"name": name, "objectTypeId": CONTACTS_OBJECT_TYPE_ID, "processingType": "MANUAL"},
        )
        return str(created["list"]["listId"])

    def memberships(self, list_id: str) -> set[str]:
        members: set[str] = set()
        after = None
        while True:
            params = {"limit": 250, **({"after": after} if after else {})}
            page = self._request("list memberships", "GET", f"/crm/v3/lists/{list_id}/memberships", params=params)
            members |= {str(r["recordId"]) for r in page.get("results", [])}
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return members

    def change_memberships(self, list_id: str, add: Iterable[str], remove: Iterable[str]) -> dict[str, Any]:
        body = {"recordIdsToAdd": sorted(add), "recordIdsToRemove": sorted(remove)}
        return self._request(
            "change list memberships", "PUT", f"/crm/v3/lists/{list_id}/memberships/add-and-remove", json=body
        )


class CrmTaskChannel:
    def __init__(self, writer: HubSpotWriter):
        self.writer = writer

    def send(self, message: StoredMessage, checkpoint) -> str:
        task = message.content
        assert isinstance(task, CrmTask)
        if message.external_id:
            return message.external_id
        reference = reference_token(message.key)
        if message.uncertain and (found := self.writer.find_task(reference)):
            return found  # the lost attempt did create it
        task_id = self.writer.create_task(task, reference)
        checkpoint(task_id)
        return task_id


class CrmListChannel:
    def __init__(self, writer: HubSpotWriter):
        self.writer = writer

    def send(self, message: StoredMessage, checkpoint) -> str:
        sync = message.content
        assert isinstance(sync, CrmListSync)
        list_id = self.writer.list_id(sync.list_name)
        wanted = set(sync.members)
        current = self.writer.memberships(list_id)
        add, remove = wanted - current, current - wanted
        missing: list[str] = []
        if add or remove:
            result = self.writer.change_memberships(list_id, add, remove)
            missing = list(result.get("recordIdsMissing") or [])
        return f"{list_id}: +{len(add) - len(missing)} -{len(remove)} ={len(wanted) - len(missing)}" + (
            f" ({len(missing)} unknown contact(s): {', '.join(missing[:5])})" if missing else ""
        )
