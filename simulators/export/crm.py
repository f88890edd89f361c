"""The HubSpot-like CRM store as it stands at the end of `end_date`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulators import stores
from simulators.crm_api import DEFAULT_MODIFIED_PROPERTY, modified_property
from simulators.world import World
from simulators.world.clock import format_utc_z, paris_to_utc
from simulators.world.rng import component_rng

FIRST_TICKET_ID = 9_000_001
# A real CRM holds a few impossible rows: a ticket merged into an older one keeps the older
# close date, an agent types a date by hand, a server clock runs late. About 1 closed ticket
# in 1,000 shows a close date 10 minutes to 8 hours before its creation, at every scale
# (ground truth: crm_defects.csv); the true close is kept there.
CLOSED_BEFORE_CREATED_RATE = 0.001
FIRST_FEEDBACK_ID = 14_000_001
FIRST_INVITATION_ID = 21_000_001
EMAIL_OPTOUT_SHARE = 0.05
_COMMON = (("hs_object_id", "Record ID", "number", "number"), ("createdate", "Create date", "datetime", "date"),
           ("hs_lastmodifieddate", "Last modified date", "datetime", "date"))  # fmt: skip

# name, label, type, fieldType: the catalogue `GET /crm/v3/properties/{type}` serves.
PROPERTIES = {
    "contacts": (
        ("hs_object_id", "Record ID", "number", "number"),
        ("createdate", "Create date", "datetime", "date"),
        # listed, as on HubSpot, but never set on a contact: `lastmodifieddate` is theirs (crm_api.py)
        ("hs_lastmodifieddate", "Object last modified date/time", "datetime", "date"),
        ("firstname", "First name", "string", "text"),
        ("lastname", "Last name", "string", "text"),
        ("email", "Email", "string", "text"),
        ("phone", "Phone number", "string", "phonenumber"),
        ("mobilephone", "Mobile phone number", "string", "phonenumber"),
        ("address", "Street address", "string", "text"),
        ("zip", "Postal code", "string", "text"),
        ("city", "City", "string", "text"),
        ("company", "Company name", "string", "text"),
        ("lifecyclestage", "Lifecycle stage", "enumeration", "radio"),
        ("type_client", "Type de client", "enumeration", "select"),
        ("code_client_erp", "Code client Sage", "string", "text"),
        ("vip", "Client VIP", "bool", "booleancheckbox"),
        ("statut_client", "Statut client", "enumeration", "select"),
        ("date_perte", "Date de perte", "datetime", "date"),
        ("hubspot_owner_id", "Contact owner", "enumeration", "select"),
        ("lastmodifieddate", "Last modified date", "datetime", "date"),
        ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox"),
    ),
    "tickets": _COMMON
    + (
        ("subject", "Ticket name", "string", "text"),
        ("content", "Ticket description", "string", "textarea"),
        ("hs_pipeline", "Pipeline", "enumeration", "select"),
        ("hs_pipeline_stage", "Ticket status", "enumeration", "select"),
        ("hs_ticket_priority", "Priority", "enumeration", "select"),
        ("hs_ticket_category", "Category", "enumeration", "select"),
        ("source_type", "Source", "enumeration", "select"),
        ("hubspot_owner_id", "Ticket owner", "enumeration", "select"),
        ("first_agent_reply_date", "First agent reply date", "datetime", "date"),
        ("closed_date", "Close date", "datetime", "date"),
        ("nb_agent_replies", "Number of agent replies", "number", "number"),
        ("nb_reopens", "Number of times reopened", "number", "number"),
        ("hs_contact_id", "Contact ID", "number", "number"),
    ),
    "feedback_submissions": _COMMON
    + (
        ("hs_survey_type", "Survey type", "enumeration", "select"),
        ("hs_response_value", "Response value", "number", "number"),
        ("hs_submission_timestamp", "Submission timestamp", "datetime", "date"),
        ("hs_contact_id", "Contact ID", "number", "number"),
        ("hs_ticket_id", "Ticket ID", "number", "number"),
        ("hs_survey_channel", "Survey channel", "enumeration", "select"),
    ),
    "p_survey_invitations": _COMMON
    + (
        ("survey_type", "Survey type", "enumeration", "select"),
        ("sent_at", "Sent at", "datetime", "date"),
        ("hs_contact_id", "Contact ID", "number", "number"),
        ("hs_ticket_id", "Ticket ID", "number", "number"),
    ),
}


def _ids(rng: np.random.Generator, first: int, count: int) -> np.ndarray:
    """Increasing numeric ids with small gaps, as HubSpot hands them out."""
    return (first + np.cumsum(rng.integers(1, 3, count)) - 1).astype(str)


def _records(
    ids: np.ndarray,
    created: np.ndarray,
    updated: np.ndarray,
    columns: dict[str, np.ndarray],
    modified_name: str = DEFAULT_MODIFIED_PROPERTY,
) -> list[dict]:
    """Store rows: every property value a string or None, plus the three HubSpot always-properties
    (id, creation and the object type's own last-modification property)."""
    created_text, updated_text = format_utc_z(created).tolist(), format_utc_z(updated).tolist()
    names = list(columns)
    texts = [_texts(columns[name]) for name in names]
    records = []
    for record_id, created_at, updated_at, *values in zip(
        np.asarray(ids).tolist(), created_text, updated_text, *texts, strict=True
    ):
        properties = {"hs_object_id": record_id, "createdate": created_at, modified_name: updated_at}
        properties.update(zip(names, values, strict=True))
        records.append({"id": record_id, "properties": properties, "created_at": created_at, "updated_at": updated_at})
    return records


def _texts(values: np.ndarray) -> list[str | None]:
    """HubSpot's string form of a column: `true`/`false`, integers without `.0`, None for missing."""
    array = np.asarray(values)
    if array.dtype == bool:
        return np.where(array, "true", "false").tolist()
    if array.dtype.kind in "iu":
        return array.astype(str).tolist()
    if array.dtype.kind == "f":
        missing = np.isnan(array)
        whole = np.where(missing, 0, array)
        text = np.where(whole == np.round(whole), whole.astype(np.int64).astype(str), whole.astype(str))
        return [None if gone else t for t, gone in zip(text.tolist(), missing.tolist(), strict=True)]
    return [v if isinstance(v, str) or v is None else _text(v) for v in array.astype(object).tolist()]


def _text(value: object) -> str | None:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def crm_contacts(world: World) -> tuple[list[dict], pd.Series]:
    """Contact records and the CRM id of each exported customer (index: customer row)."""
    rng = component_rng(world.config.seed, "crm_contacts")
    snapshot = world.snapshot
    customers = world.customers[world.exported_customers]
    n = len(customers)
    signup = np.array(customers["signup_date"], dtype="datetime64[D]").astype("datetime64[s]")
    created = paris_to_utc(signup + rng.integers(9 * 3600, 18 * 3600, n).astype("timedelta64[s]"))
    churned_at = world.churn_instant[customers.index]
    lost = ~np.isnat(churned_at) & (churned_at <= snapshot)
    # Agents edit some contacts now and then (address, phone), which bumps the modification date.
    edited = created + (rng.random(n) * (snapshot - created).astype("int64")).astype("int64").astype("timedelta64[s]")
    updated = np.where(rng.random(n) < 0.3, edited, created)
    updated = np.where(lost, np.maximum(updated, churned_at), updated)
    owners = world.agents["owner_id"].to_numpy()[rng.choice(len(world.agents), n, p=world.agents["weight"].to_numpy())]
    loss_day = np.where(lost, np.datetime_as_string(churned_at.astype("datetime64[D]")), "")
    records = _records(
        customers["crm_contact_id"].to_numpy(),
        created,
        updated,
        {
            "firstname": customers["first_name"].to_numpy(),
            "lastname": customers["last_name"].to_numpy(),
            "email": customers["crm_email"].to_numpy(),
            "phone": customers["crm_phone"].to_numpy(),
            "mobilephone": customers["crm_mobile"].to_numpy(),
            "address": customers["street"].to_numpy(),
            "zip": customers["postal_code"].to_numpy(),
            "city": customers["city"].to_numpy(),
            "company": customers["company"].to_numpy(),
            "lifecyclestage": np.full(n, "customer"),
            "type_client": customers["customer_type"].to_numpy(),
            "code_client_erp": np.where(customers["crm_has_erp_code"], customers["erp_code"], None),
            "vip": customers["vip"].to_numpy(),
            "statut_client": np.where(lost, "perdu", "actif"),
            "date_perte": np.where(lost, np.char.add(loss_day.astype(str), "T00:00:00.000Z"), None),
            "hubspot_owner_id": owners,
            # a few customers unsubscribed from all e-mail (own stream: the other draws stay as they were)
            "hs_email_optout": component_rng(world.config.seed, "crm_email_optout").random(n) < EMAIL_OPTOUT_SHARE,
        },
        modified_property("contacts"),
    )
    leads = world.leads[
        np.array(world.leads["created_date"], dtype="datetime64[D]") <= np.datetime64(world.config.end_date)
    ]
    lead_created = paris_to_utc(
        np.array(leads["created_date"], dtype="datetime64[D]").astype("datetime64[s]")
        + rng.integers(8 * 3600, 21 * 3600, len(leads)).astype("timedelta64[s]")
    )
    records += _records(
        leads["crm_contact_id"].to_numpy(),
        lead_created,
        lead_created,
        {
            "firstname": leads["first_name"].to_numpy(),
            "lastname": leads["last_name"].to_numpy(),
            "email": leads["email"].to_numpy(),
            "phone": leads["crm_phone"].to_numpy(),
            "city": leads["city"].to_numpy(),
            "lifecyclestage": np.full(len(leads), "lead"),
        },
        modified_property("contacts"),
    )
    records.sort(key=lambda r: int(r["id"]))
    return records, customers["crm_contact_id"]


def ticket_state(world: World) -> pd.DataFrame:
    """Exported tickets with their pipeline stage, reply counts and dates as seen at the snapshot."""
    tickets = world.conversations.tickets
    snapshot = world.snapshot
    created = tickets["created_utc"].to_numpy()
    keep = (created >= world.history_start) & (created < snapshot)
    t = tickets[keep].sort_values(["created_utc", "row"], kind="stable").reset_index(drop=True)
    first = t["first_reply_utc"].to_numpy()
    last = t["last_reply_utc"].to_numpy()
    closed = t["closed_utc"].to_numpy()
    replied = first < snapshot
    is_closed = closed < snapshot
    replies = t["reply_count"].to_numpy()
    # Replies between the first and the last are spread evenly; count those already sent.
    span = np.maximum((last - first).astype("int64"), 1)
    progress = np.clip((snapshot - first).astype("int64") / span, 0, 1)
    replies_so_far = np.where(is_closed, replies, np.where(replied, 1 + np.floor(progress * (replies - 1)), 0))
    stage = np.select([is_closed, ~replied, t["waiting_on_contact"].to_numpy()], ["4", "1", "2"], default="3")
    latest_reply = first + (progress * (last - first).astype("int64")).astype("int64").astype("timedelta64[s]")
    updated = np.select(
        [is_closed, replied], [closed + np.timedelta64(4, "s"), latest_reply], default=t["created_utc"].to_numpy()
    )
    return t.assign(
        stage=stage,
        replies_so_far=replies_so_far.astype(int),
        reopens_so_far=np.where(is_closed, t["reopen_count"], 0),
        first_reply_seen=np.where(replied, first, np.datetime64("NaT")),
        closed_seen=np.where(is_closed, closed, np.datetime64("NaT")),
        # Everything the export shows happened before the snapshot instant (an exclusive interval end).
        updated_utc=np.minimum(np.maximum(updated, t["created_utc"].to_numpy()), snapshot - np.timedelta64(1, "s")),
    )


def exported_tickets(world: World, id_rng: np.random.Generator) -> pd.DataFrame:
    """The tickets the CRM holds (its contacts' tickets) with their ids (the first draw of
    `id_rng`) and the close date the CRM records: the true one, or for a few a planted
    impossible one (`closed_before_created`, `recorded_closed`)."""
    exported = world.customers.index[world.exported_customers]
    tickets = ticket_state(world)
    tickets = tickets[tickets["customer"].isin(exported)].reset_index(drop=True)
    rng = component_rng(world.config.seed, "crm_ticket_defects")  # its own stream: no other draw moves
    closed = tickets["closed_seen"].to_numpy()
    planted = ~np.isnat(closed) & (rng.random(len(tickets)) < CLOSED_BEFORE_CREATED_RATE)
    early = rng.integers(10 * 60, 8 * 3600, len(tickets)).astype("timedelta64[s]")
    return tickets.assign(
        ticket_id=_ids(id_rng, FIRST_TICKET_ID, len(tickets)),
        closed_before_created=planted,
        recorded_closed=np.where(planted, tickets["created_utc"].to_numpy() - early, closed),
    )


def ticket_defects(world: World) -> pd.DataFrame:
    """The planted impossible tickets as the ground truth lists them (ticket ids as in the store)."""
    tickets = exported_tickets(world, component_rng(world.config.seed, "crm_ids"))
    bad = tickets[tickets["closed_before_created"]]
    return pd.DataFrame(
        {
            "ticket_id": bad["ticket_id"].to_numpy(),
            "kind": "closed_before_created",
            "created_at": format_utc_z(bad["created_utc"].to_numpy()),
            "recorded_closed_at": format_utc_z(bad["recorded_closed"].to_numpy()),
            "true_closed_at": format_utc_z(bad["closed_seen"].to_numpy()),
        }
    )


def ticket_ids_by_row(world: World) -> pd.Series:
    """HubSpot id of each exported ticket, by the world's ticket row (as write_crm_store numbers them)."""
    tickets = exported_tickets(world, component_rng(world.config.seed, "crm_ids"))
    return pd.Series(tickets["ticket_id"].to_numpy(), index=tickets["row"].to_numpy())


def write_crm_store(world: World, path: Path) -> dict[str, int]:
    """Write contacts, tickets, surveys, owners, associations and the property catalogue."""
    rng = component_rng(world.config.seed, "crm_ids")
    contacts, crm_id_of = crm_contacts(world)
    tickets = exported_tickets(world, rng)
    ticket_ids = tickets["ticket_id"].to_numpy()
    contact_of_ticket = crm_id_of.loc[tickets["customer"]].to_numpy()
    owner = world.agents["owner_id"].to_numpy()[tickets["agent"]]
    ticket_records = _records(
        ticket_ids,
        tickets["created_utc"].to_numpy(),
        tickets["updated_utc"].to_numpy(),
        {
            "subject": tickets["subject"].to_numpy(),
            "content": tickets["content"].to_numpy(),
            "hs_pipeline": np.full(len(tickets), "0"),
            "hs_pipeline_stage": tickets["stage"].to_numpy(),
            "hs_ticket_priority": tickets["priority"].to_numpy(),
            "hs_ticket_category": tickets["category"].to_numpy(),
            "source_type": tickets["source_type"].to_numpy(),
            "hubspot_owner_id": owner,
            "first_agent_reply_date": format_utc_z(tickets["first_reply_seen"].to_numpy()),
            "closed_date": format_utc_z(tickets["recorded_closed"].to_numpy()),
            "nb_agent_replies": tickets["replies_so_far"].to_numpy(),
            "nb_reopens": tickets["reopens_so_far"].to_numpy(),
            "hs_contact_id": contact_of_ticket,
        },
    )
    ticket_id_of_row = pd.Series(ticket_ids, index=tickets["row"].to_numpy())

    survey = world.conversations
    visible_ticket = lambda rows: (rows < 0) | np.isin(rows, ticket_id_of_row.index)  # noqa: E731
    invitations = survey.invitations
    invitations = invitations[
        (invitations["sent_utc"] >= world.history_start)
        & (invitations["sent_utc"] < world.snapshot)
        & invitations["customer"].isin(crm_id_of.index)
        & visible_ticket(invitations["ticket_row"].to_numpy())
    ].reset_index(drop=True)
    submissions = survey.submissions
    submissions = submissions[
        (submissions["submitted_utc"] < world.snapshot)
        & submissions["invitation_row"].isin(invitations["invitation_row"])
    ].reset_index(drop=True)
    ticket_ref = lambda rows: np.where(rows >= 0, ticket_id_of_row.reindex(rows).to_numpy(), None)  # noqa: E731
    invitation_records = _records(
        _ids(rng, FIRST_INVITATION_ID, len(invitations)),
        invitations["sent_utc"].to_numpy(),
        invitations["sent_utc"].to_numpy(),
        {
            "survey_type": invitations["survey_type"].to_numpy(),
            "sent_at": format_utc_z(invitations["sent_utc"].to_numpy()),
            "hs_contact_id": crm_id_of.loc[invitations["customer"]].to_numpy(),
            "hs_ticket_id": ticket_ref(invitations["ticket_row"].to_numpy()),
        },
    )
    feedback_records = _records(
        _ids(rng, FIRST_FEEDBACK_ID, len(submissions)),
        submissions["submitted_utc"].to_numpy(),
        submissions["submitted_utc"].to_numpy(),
        {
            "hs_survey_type": submissions["survey_type"].to_numpy(),
            "hs_response_value": submissions["value"].to_numpy(),
            "hs_submission_timestamp": format_utc_z(submissions["submitted_utc"].to_numpy()),
            "hs_contact_id": crm_id_of.loc[submissions["customer"]].to_numpy(),
            "hs_ticket_id": ticket_ref(submissions["ticket_row"].to_numpy()),
            "hs_survey_channel": np.full(len(submissions), "EMAIL"),
        },
    )

    since = format_utc_z(np.array([world.history_start - np.timedelta64(400, "D")]))[0]
    owners = [
        {"id": a.owner_id, "email": a.email, "first_name": a.first_name, "last_name": a.last_name, "user_id": a.user_id,
         "created_at": since, "updated_at": since}
        for a in world.agents.itertuples()
    ]  # fmt: skip
    counts = {}
    conn = stores.connect_crm(path)
    try:
        counts["contacts"] = stores.upsert_crm_objects(conn, "contacts", contacts)
        counts["tickets"] = stores.upsert_crm_objects(conn, "tickets", ticket_records)
        counts["feedback_submissions"] = stores.upsert_crm_objects(conn, "feedback_submissions", feedback_records)
        counts["p_survey_invitations"] = stores.upsert_crm_objects(conn, "p_survey_invitations", invitation_records)
        counts["associations"] = stores.replace_crm_associations(
            conn, (("tickets", t, "contacts", c) for t, c in zip(ticket_ids, contact_of_ticket, strict=True))
        )
        counts["owners"] = stores.upsert_crm_owners(conn, owners)
        for object_type, properties in PROPERTIES.items():
            stores.upsert_crm_properties(
                conn, object_type, ({"name": p[0], "label": p[1], "type": p[2], "field_type": p[3]} for p in properties)
            )
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    return counts
