"""The shared mailbox (Microsoft 365 / Outlook) as it stands at the end of `end_date`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulators import graph_api
from simulators.world import World, catalog
from simulators.world.mailbox import graph_id

MAILBOX_UPN = f"service-client@{catalog.EMAIL_DOMAIN}"
MAILBOX_NAME = "Service client"


def _graph_time(utc: np.ndarray) -> np.ndarray:
    """`2025-03-04T07:12:33Z`, as Graph writes instants."""
    return np.char.add(np.datetime_as_string(np.asarray(utc, dtype="datetime64[s]"), unit="s"), "Z").astype(object)


def mailbox_state(world: World) -> pd.DataFrame:
    """Messages delivered by the snapshot, with what agents had done to them by then."""
    messages = world.mailbox.messages
    snapshot = world.snapshot
    m = messages[messages["received_utc"] < snapshot].reset_index(drop=True)
    handled = (m["handled_utc"] < snapshot).fillna(False).to_numpy(bool)
    removed = (m["removed_utc"] < snapshot).fillna(False).to_numpy(bool)
    last_change = np.where(handled, m["handled_utc"], m["received_utc"]).astype("datetime64[s]")
    last_change = np.where(removed, m["removed_utc"], last_change).astype("datetime64[s]")
    seed = world.config.seed
    return m.assign(
        message_id=[graph_id("AAMkAD", f"{seed}|message|{row}") for row in m["message"]],
        conversation_id=[graph_id("AAQkAD", f"{seed}|{key}") for key in m["conversation"]],
        is_handled=handled,
        is_removed=removed,
        last_change_utc=last_change,
    )


def message_payloads(world: World) -> tuple[list[dict], list[tuple]]:
    """Store rows `{seq, folder, payload}` and removals `(seq, id, folder)`, changes numbered in time order."""
    m = mailbox_state(world).sort_values(["last_change_utc", "message"], kind="stable").reset_index(drop=True)
    # A removed message has two changes: it leaves the inbox, then lands in the junk folder.
    steps = np.where(m["is_removed"], 2, 1)
    seq = np.cumsum(steps)
    received = _graph_time(m["received_utc"].to_numpy())
    sent = _graph_time(m["received_utc"].to_numpy() - (m["message"].to_numpy() % 83 + 4).astype("timedelta64[s]"))
    modified = _graph_time(m["last_change_utc"].to_numpy())
    completed = np.datetime_as_string(m["handled_utc"].to_numpy().astype("datetime64[s]"), unit="s")
    handled = m["is_handled"].tolist()
    removed = m["is_removed"].tolist()
    kind = m["kind"].tolist()
    inbox, junk = graph_api.folder_id(MAILBOX_UPN, "inbox"), graph_api.folder_id(MAILBOX_UPN, "junkemail")
    to = [{"emailAddress": {"name": MAILBOX_NAME, "address": MAILBOX_UPN}}]
    rows, removals = [], []
    for i, (message_id, conversation, name, address, subject, preview, category) in enumerate(
        zip(*(m[c].tolist() for c in ("message_id", "conversation_id", "from_name", "from_address", "subject",
                                       "preview", "category")), strict=True)
    ):  # fmt: skip
        domain = address.split("@")[-1].lower()
        sender = {"emailAddress": {"name": name, "address": address}}
        payload = {
            "id": message_id,
            "createdDateTime": received[i],
            "lastModifiedDateTime": modified[i],
            "changeKey": graph_api.change_key(int(seq[i])),
            "categories": [category] if handled[i] else [],
            "receivedDateTime": received[i],
            "sentDateTime": sent[i],
            "hasAttachments": kind[i] == "supplier",
            "internetMessageId": f"<{message_id[6:30].lower()}@{domain}>",
            "subject": subject,
            "bodyPreview": str(preview)[:255],
            "importance": "normal",
            "parentFolderId": junk if removed[i] else inbox,
            "conversationId": conversation,
            "isRead": bool(handled[i]),
            "isDraft": False,
            "inferenceClassification": "other" if kind[i] == "newsletter" else "focused",
            "from": sender,
            "sender": sender,
            "toRecipients": to,
            "flag": (
                {
                    "flagStatus": "complete",
                    "completedDateTime": {"dateTime": completed[i] + ".0000000", "timeZone": "UTC"},
                }
                if handled[i]
                else {"flagStatus": "notFlagged"}
            ),
        }
        rows.append({"seq": int(seq[i]), "folder": "junkemail" if removed[i] else "inbox", "payload": payload})
        if removed[i]:
            removals.append((int(seq[i]) - 1, message_id, "inbox"))
    return rows, removals


def write_mailbox_store(world: World, path: Path) -> dict[str, int]:
    rows, removals = message_payloads(world)
    graph_api.write_store(path, MAILBOX_UPN, MAILBOX_NAME, rows, removals)
    return {"messages": sum(1 for r in rows if r["folder"] == "inbox"), "removed": len(removals)}
