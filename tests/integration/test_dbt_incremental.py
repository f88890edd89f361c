"""The incremental facts read by load batch (dbt_project/macros/incremental.sql): a run re-reads
only what the fact has not absorbed, catches a CTI batch that was still loading when it last ran,
drops what the source archived, and leaves fct_emails exactly as a full rebuild would, on the
shared small world loaded by the production loaders."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration

FACTS = ("fct_calls", "fct_tickets", "fct_time_entries", "fct_office_time_entries", "fct_emails")


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


def last_merge(world: DbtWorld, fact: str):
    return world.query(f"select max(merged_at) from marts_build.{fact}")[0][0]


def test_a_run_with_nothing_loaded_rereads_only_the_open_tickets(dbt_world: DbtWorld):
    before = {fact: last_merge(dbt_world, fact) for fact in FACTS}
    dbt_world.dbt("run", "--select", *FACTS)
    remerged = {
        fact: dbt_world.query(f"select count(*) from marts_build.{fact} where merged_at > %s", (before[fact],))[0][0]
        for fact in FACTS
    }
    # A clock window would have re-read the whole history here: it was all loaded minutes ago.
    for fact in ("fct_calls", "fct_time_entries", "fct_office_time_entries"):
        assert remerged[fact] == 0, (fact, remerged[fact])
    open_tickets = dbt_world.query("select count(*) from marts_build.fct_tickets where not is_closed")[0][0]
    assert 0 < remerged["fct_tickets"] == open_tickets, "every open ticket is re-measured, nothing else"
    # the threads an open e-mail ticket may have opened are rebuilt, a small share of the mailbox
    total = dbt_world.query("select count(*) from marts_build.fct_emails")[0][0]
    assert remerged["fct_emails"] < 0.1 * total, (remerged["fct_emails"], total)


def test_a_cti_batch_still_loading_at_the_last_build_is_read_again(dbt_world: DbtWorld):
    wh = dbt_world.warehouse
    batch, source_id = dbt_world.query(
        "select batch_id, min(call_id) from marts_build.fct_calls group by batch_id order by batch_id limit 1"
    )[0]
    finished = dbt_world.query("select finished_at from meta.load_batches where batch_id = %s", (batch,))[0][0]
    call_id = "2026061599998"

    def insert_into_the_batch() -> None:
        # a file of the batch committed after the build read the others: its rows carry the batch's stamps
        wh.execute(
            """
            insert into raw_cti.calls (call_id, started_at, ended_at, local_start_time, local_end_time, caller_number,
                called_number, direction, queue, wait_seconds, talk_seconds, outcome, agent_id, agent_name,
                _file_name, _file_date, _line_number, _file_sha256, _batch_id, _loaded_at)
            select %s, started_at, ended_at, local_start_time, local_end_time, caller_number, called_number,
                direction, queue, wait_seconds, talk_seconds, outcome, agent_id, agent_name,
                'cdr_late_part.csv', _file_date, 99999, 'late-part', _batch_id, _loaded_at
            from raw_cti.calls where call_id = %s
            """,
            (call_id, source_id),
        )

    def merged() -> int:
        return dbt_world.query("select count(*) from marts_build.fct_calls where call_id = %s", (call_id,))[0][0]

    try:
        insert_into_the_batch()
        dbt_world.dbt("run", "--select", "fct_calls")
        # recorded as finished before the last build: the build saw all of it, nothing to re-read
        assert merged() == 0
        # the batch's record written after the last build started: part of it may be unread
        wh.execute("update meta.load_batches set finished_at = now() where batch_id = %s", (batch,))
        dbt_world.dbt("run", "--select", "fct_calls")
        assert merged() == 1
        dbt_world.dbt("run", "--select", "fct_calls")  # recorded before this build: read once
        assert merged() == 1
    finally:
        wh.execute("update meta.load_batches set finished_at = %s where batch_id = %s", (finished, batch))
        wh.execute("delete from raw_cti.calls where call_id = %s", (call_id,))
        wh.execute("delete from marts_build.fct_calls where call_id = %s", (call_id,))


def test_a_ticket_archived_in_the_crm_leaves_the_fact(dbt_world: DbtWorld):
    wh = dbt_world.warehouse
    ticket_id = dbt_world.query("select min(ticket_id) from marts_build.fct_tickets where is_closed")[0][0]
    batch, loaded_at = dbt_world.query("select _batch_id, _loaded_at from raw_crm.tickets where id = %s", (ticket_id,))[
        0
    ]
    try:
        # HubSpot's archive: a new version of the record, loaded by a later batch
        wh.execute(
            "update raw_crm.tickets set archived = true, _batch_id = 'test-archive', _loaded_at = now() where id = %s",
            (ticket_id,),
        )
        dbt_world.dbt("run", "--select", "fct_tickets")
        assert dbt_world.query("select count(*) from marts_build.fct_tickets where ticket_id = %s", (ticket_id,)) == [
            (0,)
        ]
    finally:
        # unarchived: a version of a batch the fact has not absorbed, so the next run brings it back
        wh.execute(
            "update raw_crm.tickets set archived = false, _batch_id = 'test-unarchive' where id = %s", (ticket_id,)
        )
        dbt_world.dbt("run", "--select", "fct_tickets")
        wh.execute(
            "update raw_crm.tickets set _batch_id = %s, _loaded_at = %s where id = %s", (batch, loaded_at, ticket_id)
        )
        dbt_world.dbt("run", "--select", "fct_tickets")
    assert dbt_world.query("select count(*) from marts_build.fct_tickets where ticket_id = %s", (ticket_id,)) == [(1,)]


EMAIL_COLUMNS = (
    "message_id, conversation_id, received_at, sender_address, customer_id, sender_type, ticket_id, "
    "is_ticket_opener, flag_status, is_handled, handled_at, is_removed, is_counted, response_business_hours, "
    "response_calendar_hours, batch_id, loaded_at"
)


def test_fct_emails_after_a_late_ticket_and_a_reply_equals_a_full_rebuild(dbt_world: DbtWorld):
    wh = dbt_world.warehouse
    # a customer's e-mail that opened a ticket: its sender and its ticket are the templates
    template_message, template_ticket = dbt_world.query(
        "select min(message_id), min(ticket_id) from marts_build.fct_emails where is_ticket_opener "
        "and message_id = (select min(message_id) from marts_build.fct_emails where is_ticket_opener)"
    )[0]
    message_id, reply_id, ticket_id = "test-late-message", "test-late-reply", "99999990001"

    def add_message(message: str, days_later: int, batch: str) -> None:
        wh.execute(
            """
            insert into raw_mailbox.messages (id, received_at, last_modified_at, is_removed, payload, _record_hash,
                _batch_id, _loaded_at, _source)
            select %(id)s, received_at + %(days)s * interval '1 day', last_modified_at + %(days)s * interval '1 day',
                false, payload || jsonb_build_object('id', %(id)s::text, 'conversationId', 'test-conversation'),
                %(id)s, %(batch)s, now(), _source
            from raw_mailbox.messages where id = %(template)s
            """,
            {"id": message, "days": days_later, "batch": batch, "template": template_message},
        )

    def tickets_of_the_thread() -> dict[str, str | None]:
        return dict(
            dbt_world.query(
                "select message_id, ticket_id from marts_build.fct_emails where conversation_id = 'test-conversation'"
            )
        )

    try:
        add_message(message_id, 3, "test-mailbox-day-1")
        dbt_world.dbt("run", "--select", "fct_tickets", "fct_emails")
        assert tickets_of_the_thread() == {message_id: None}, "no ticket yet"
        # the CRM ticket it opened comes with the next day's CRM load, the customer's reply with the mailbox's
        received_at = dbt_world.query("select received_at from raw_mailbox.messages where id = %s", (message_id,))[0][0]
        wh.execute(
            """
            insert into raw_crm.tickets (id, source_updated_at, source_created_at, archived, payload, _record_hash,
                _batch_id, _loaded_at, _source)
            select %(ticket)s, %(created)s, %(created)s, false,
                jsonb_set(jsonb_set(payload, '{id}', to_jsonb(%(ticket)s::text)), '{properties,createdate}',
                    to_jsonb(to_char(%(created)s at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
                'late', 'test-crm-day-2', now(), _source
            from raw_crm.tickets where id = %(template)s
            """,
            {"ticket": ticket_id, "created": received_at + timedelta(minutes=1), "template": template_ticket},
        )
        add_message(reply_id, 4, "test-mailbox-day-2")
        dbt_world.dbt("run", "--select", "fct_tickets", "fct_emails")
        assert tickets_of_the_thread() == {message_id: ticket_id, reply_id: ticket_id}, (
            "the late ticket claims the thread"
        )
        incremental = dbt_world.query(f"select {EMAIL_COLUMNS} from marts_build.fct_emails order by message_id")
        dbt_world.dbt("run", "--select", "fct_emails", "--full-refresh")
        full = dbt_world.query(f"select {EMAIL_COLUMNS} from marts_build.fct_emails order by message_id")
        assert len(incremental) == len(full)
        assert [row for row in incremental if row not in set(full)] == []
    finally:
        wh.execute("delete from raw_crm.tickets where id = %s", (ticket_id,))
        wh.execute("delete from raw_mailbox.messages where id in (%s, %s)", (message_id, reply_id))
        wh.execute("delete from marts_build.fct_tickets where ticket_id = %s", (ticket_id,))
        dbt_world.dbt("run", "--select", "fct_emails", "--full-refresh")


def test_a_fact_built_before_the_batch_columns_existed_is_read_whole_once(dbt_world: DbtWorld):
    # a warehouse upgraded from a version without them: fct_emails was a table, fct_calls had only loaded_at
    counts = {}
    for fact in ("fct_calls", "fct_emails"):
        counts[fact] = dbt_world.query(f"select count(*) from marts_build.{fact}")[0][0]
        dbt_world.warehouse.execute(f"alter table marts_build.{fact} drop column batch_id, drop column merged_at")
    dbt_world.dbt("run", "--select", "fct_calls", "fct_emails")
    for fact, count in counts.items():
        assert dbt_world.query(f"select count(*), count(batch_id), count(merged_at) from marts_build.{fact}") == [
            (count, count, count)
        ], fact
