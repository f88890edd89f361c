"""The outbox and its channels against real servers on loopback: an SMTP server, the
Slack-compatible Web API (real slack_sdk calls) and the CRM simulator (HubSpot tasks and
lists). Nothing lost through outages, nothing sent twice through retries and re-runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cs_analytics.alerts import outbox
from cs_analytics.alerts.channels.email import message_id
from cs_analytics.alerts.messages import (
    Alert,
    CrmListSync,
    CrmTask,
    Email,
    Figure,
    Image,
    OutboxMessage,
    SlackPost,
    alert_email,
    alert_slack,
)
from cs_analytics.schema import ensure_schema
from tests.integration.alerting import FAST, FROM, OWNERS, channels

PNG = (  # a 1x1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0\xa0\x00\x00\x00\x00IEND\xaeB`\x82"
)
ALERT = Alert(
    key="calls_overload:all:2026-03-10",
    severity="important",
    title="Surcharge d'appels le mardi 10/03",
    summary="82 appels reçus, au-dessus du seuil de 70.",
    rule="calls_overload",
    figures=(Figure("Appels", "82", "≤ 70"),),
    link="http://bi.test/superset/dashboard/operations/",
    run_link="http://airflow.test/dags/alerts/runs/r1",
    chart=Image.png("chart_calls", PNG, alt="Appels par jour"),
)


def alert_messages(alert: Alert = ALERT) -> list[OutboxMessage]:
    return [
        OutboxMessage.create(alert.key, "alert", "claire@service-client.test", alert_email(alert),
                             severity=alert.severity, rule=alert.rule),
        OutboxMessage.create(alert.key, "alert", "#service-client-alertes", alert_slack(alert),
                             severity=alert.severity, rule=alert.rule),
    ]  # fmt: skip


def statuses(wh) -> dict[str, tuple]:
    return {k: (s, a) for k, s, a in wh.query("select message_key, status, attempts from meta.outbox")}


def test_alert_reaches_email_and_slack_with_its_content_once_across_reruns(warehouse, sinks):
    chans = channels(warehouse)
    report = outbox.send_now(warehouse, alert_messages(), chans, dag_id="alerts", run_id="r1", settings=FAST)
    assert report.total_sent == 2 and not report.retrying

    (entry,) = sinks.mails()
    assert entry["to"] == ["claire@service-client.test"] and "[IMPORTANT] Surcharge d'appels" in entry["subject"]
    mail = sinks.mail(entry)
    assert mail["Message-ID"] == message_id(f"{ALERT.key}|email|claire@service-client.test", FROM)
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html_part = mail.get_body(("html",))
    assert "82 appels reçus" in text and "Tableau de bord : http://bi.test/" in text
    assert "Pourquoi :</b> 82 appels reçus" in html_part.get_content() and "cid:chart_calls" in html_part.get_content()
    (image,) = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<chart_calls>" and image.get_content() == PNG

    post, chart = sinks.slack("#service-client-alertes")  # the message, then its chart in the thread
    assert post["method"] == "chat.postMessage" and post["text"].startswith("🟠 *IMPORTANT* — Surcharge d'appels")
    header, why, figures = post["blocks"][:3]
    assert header["text"]["text"] == "🟠 Surcharge d'appels le mardi 10/03"
    assert "*Pourquoi :* 82 appels reçus" in why["text"]["text"]
    assert figures["fields"][0]["text"] == "*Appels*\n82 (cible ≤ 70)"
    buttons = next(b for b in post["blocks"] if b["type"] == "actions")["elements"]
    assert [b["url"] for b in buttons] == [ALERT.link, ALERT.run_link]
    assert (
        chart["method"] == "files.completeUploadExternal"
        and chart["thread_ts"] == post["ts"]
        and chart["files"][0]["name"] == "chart_calls.png"
    )

    # the same alert decided again (a re-run): nothing new is written, nothing is sent
    again = outbox.send_now(warehouse, alert_messages(), chans, dag_id="alerts", run_id="r2", settings=FAST)
    assert again.total_sent == 0
    assert len(sinks.mails()) == 1 and len(sinks.slack("#service-client-alertes")) == 2
    log = warehouse.query(
        "select channel, recipient, status, attempts, run_id, external_id is not null from marts.alert_delivery_log "
        "order by channel"
    )
    assert log == [("email", "claire@service-client.test", "sent", 1, "r1", True),
                   ("slack", "#service-client-alertes", "sent", 1, "r1", True)]  # fmt: skip


def test_a_report_sends_multipart_html_with_inline_images_and_a_slack_summary(warehouse, sinks):
    """The reports' use of the outbox: one e-mail with two charts inline, one Slack summary."""
    charts = (Image.png("calls", PNG, alt="Appels"), Image.png("nps", PNG, alt="NPS"))
    mail = Email(
        subject="Rapport hebdomadaire S10",
        html="<h1>Semaine 10</h1><img src='cid:calls'><p>NPS</p><img src='cid:nps'>",
        text="Semaine 10\nAppels ...\nNPS ...",
        images=charts,
    )
    summary = SlackPost(text="Rapport S10 envoyé : 312 appels (-4 %)", files=(charts[0],))
    key = "report:weekly:2026-W10"
    msgs = [
        OutboxMessage.create(key, "report", "claire@service-client.test", mail),
        OutboxMessage.create(key, "report", "gaetan@service-client.test", mail),
        OutboxMessage.create(key, "report", "#service-client-alertes", summary),
    ]
    report = outbox.send_now(warehouse, msgs, channels(warehouse), settings=FAST)
    assert dict(report.sent) == {("email", "report", "-"): 2, ("slack", "report", "-"): 1}
    assert sorted(m["to"][0] for m in sinks.mails()) == ["claire@service-client.test", "gaetan@service-client.test"]
    received = sinks.mail(sinks.mails()[0])
    cids = sorted(p["Content-ID"] for p in received.walk() if p.get_content_maintype() == "image")
    assert cids == ["<calls>", "<nps>"]
    posts = sinks.slack("#service-client-alertes")
    assert posts[0]["text"].startswith("Rapport S10") and posts[1]["files"][0]["name"] == "calls.png"


def test_smtp_outage_leaves_messages_pending_then_the_next_run_delivers_each_once(warehouse, sinks):
    chans = channels(warehouse)
    sinks.stop_smtp()
    report = outbox.send_now(warehouse, alert_messages(), chans, settings=FAST.__class__(
        retry_base_s=60, retry_cap_s=60, max_attempts=4, wait_budget_s=0))  # fmt: skip
    assert report.total_sent == 1 and len(report.retrying) == 1  # Slack went out, e-mail waits
    assert "unreachable" in report.retrying[0]
    email_key = f"{ALERT.key}|email|claire@service-client.test"
    assert statuses(warehouse)[email_key] == ("pending", 1)

    sinks.start_smtp()
    nothing_due = outbox.deliver_pending(warehouse, chans, settings=FAST)
    assert nothing_due.total_sent == 0  # backed off: not due yet, and not lost
    warehouse.execute("update meta.outbox set next_attempt_at = now() where status = 'pending'")  # time passes
    later = outbox.deliver_pending(warehouse, chans, settings=FAST)
    assert later.total_sent == 1
    assert statuses(warehouse) == {email_key: ("sent", 2), f"{ALERT.key}|slack|#service-client-alertes": ("sent", 1)}
    assert len(sinks.mails()) == 1 and len(sinks.slack("#service-client-alertes")) == 2  # post + chart
    attempts = warehouse.query(
        "select a.outcome, a.error like '%%unreachable%%' from meta.outbox_attempts a join meta.outbox o "
        "using (message_id) where o.channel = 'email' order by attempt"
    )
    assert attempts == [("retry", True), ("sent", None)]


def test_slack_429_waits_retry_after_and_500_is_retried(warehouse, sinks):
    chans = channels(warehouse)
    sinks.slack_faults(channel_messages_per_second=1)
    posts = [
        OutboxMessage.create(f"burst:{i}", "alert", "#service-client-alertes", SlackPost(text=f"message {i}"))
        for i in range(3)
    ]
    report = outbox.send_now(warehouse, posts, chans, settings=FAST)
    assert report.total_sent == 3 and any("429" in r for r in report.retrying)
    assert [m["text"] for m in sinks.slack("#service-client-alertes")] == ["message 0", "message 1", "message 2"]
    retried = warehouse.query("select count(*) from meta.outbox_attempts where outcome = 'retry'")[0][0]
    assert retried >= 2  # the 2nd and 3rd waited for Retry-After

    sinks.slack_faults(channel_messages_per_second=0, fail_next=1, error_status=500)
    report = outbox.send_now(warehouse, [OutboxMessage.create("blip", "alert", "#data-engineering",
                                                              SlackPost(text="après une erreur 500"))],
                             chans, settings=FAST)  # fmt: skip
    assert report.total_sent == 1 and "HTTP 500" in report.retrying[0]
    assert [m["text"] for m in sinks.slack("#data-engineering")] == ["après une erreur 500"]


def test_content_slack_rejects_fails_for_good_and_shows_in_the_log(warehouse, sinks):
    bad = OutboxMessage.create("bad", "alert", "#service-client-alertes",
                               SlackPost(text="x", blocks=({"type": "section"},)))  # fmt: skip
    good = OutboxMessage.create("good", "alert", "#service-client-alertes", SlackPost(text="ok"))
    sinks.slack_faults(fail_next=0)
    # the sink accepts any block; Slack would answer invalid_blocks: play that with a tiny fake
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web import SlackResponse

    chans = channels(warehouse)
    real = chans["slack"].client.chat_postMessage

    def post(**kw):
        if kw.get("blocks"):
            raise SlackApiError("invalid_blocks", SlackResponse(
                client=None, http_verb="POST", api_url="", req_args={}, data={"ok": False, "error": "invalid_blocks"},
                headers={}, status_code=200))  # fmt: skip
        return real(**kw)

    chans["slack"].client.chat_postMessage = post
    report = outbox.send_now(warehouse, [bad, good], chans, settings=FAST)
    assert report.total_sent == 1 and len(report.failed) == 1 and "invalid_blocks" in report.failed[0]
    row = warehouse.query("select status, attempts, last_error from marts.alert_delivery_log where alert_key = 'bad'")
    assert row[0][0] == "failed" and row[0][1] == 1 and "invalid_blocks" in row[0][2]
    assert outbox.requeue(warehouse) == 1  # fixed: back to pending, attempts reset
    assert statuses(warehouse)["bad|slack|#service-client-alertes"] == ("pending", 0)


def crm_task(owner: str = OWNERS[1]) -> CrmTask:
    return CrmTask(
        subject="Rappeler Nom4 (client VIP mécontent : 1/5)",
        body="Nom4 (VIP) a noté 1/5 après le ticket « Panne 4 ».",
        due_at=datetime(2026, 3, 10, 14, tzinfo=UTC),
        owner_id=owner,
        priority="HIGH",
        task_type="CALL",
        contact_ids=("4",),
        ticket_ids=("504",),
    )


def test_crm_task_is_created_once_per_alert_key_with_hubspot_shapes(warehouse, sinks):
    chans = channels(warehouse)
    msg = OutboxMessage.create("vip_dissatisfied:4:fb9", "crm_task", OWNERS[1], crm_task(),
                               key="vip_dissatisfied:4:fb9|crm_task")  # fmt: skip
    assert outbox.send_now(warehouse, [msg], chans, settings=FAST).total_sent == 1
    (task_id,) = [r[0] for r in warehouse.query("select external_id from meta.outbox")]
    task = sinks.crm_get(f"/crm/v3/objects/tasks/{task_id}", associations="contacts,tickets")
    props = task["properties"]
    assert props["hs_task_subject"].startswith("Rappeler Nom4") and props["hubspot_owner_id"] == OWNERS[1]
    assert (props["hs_task_status"], props["hs_task_priority"], props["hs_task_type"]) == (
        "NOT_STARTED",
        "HIGH",
        "CALL",
    )
    assert props["hs_timestamp"] == "2026-03-10T14:00:00.000Z" and "Réf. : csa-" in props["hs_task_body"]
    assert task["associations"]["contacts"]["results"] == [{"id": "4", "type": "task_to_contact"}]
    assert task["associations"]["tickets"]["results"] == [{"id": "504", "type": "task_to_ticket"}]

    # re-run, and a sender that died after HubSpot created the task but before the outbox knew
    assert outbox.send_now(warehouse, [msg], chans, settings=FAST).total_sent == 0
    warehouse.execute(
        "update meta.outbox set status = 'sending', external_id = null, lease_until = now() - interval '1 minute'"
    )
    assert outbox.deliver_pending(warehouse, chans, settings=FAST).total_sent == 1  # found by its reference
    assert [t["id"] for t in sinks.crm_tasks()] == [task_id]
    assert warehouse.query("select external_id from meta.outbox")[0][0] == task_id


def test_crm_errors_bad_owner_fails_for_good_missing_scope_is_retried(warehouse, sinks):
    chans = channels(warehouse)
    bad_owner = OutboxMessage.create("a:1", "crm_task", "999", crm_task(owner="999"))
    report = outbox.send_now(warehouse, [bad_owner], chans, settings=FAST)
    assert len(report.failed) == 1 and "400" in report.failed[0] and "999 is not a valid owner id" in report.failed[0]

    sinks.crm_faults(missing_scopes="crm.objects.contacts.write")
    scoped = OutboxMessage.create("a:2", "crm_task", OWNERS[0], crm_task(owner=OWNERS[0]))
    report = outbox.send_now(warehouse, [scoped], chans, settings=FAST.__class__(wait_budget_s=0))
    assert report.total_sent == 0 and "403" in report.retrying[0] and "MISSING_SCOPES" in report.retrying[0]
    sinks.crm_faults(missing_scopes="")  # the app is granted the scope
    warehouse.execute("update meta.outbox set next_attempt_at = now() where status = 'pending'")
    assert outbox.deliver_pending(warehouse, chans, settings=FAST).total_sent == 1
    assert len(sinks.crm_tasks()) == 1


def test_list_sync_adds_the_new_removes_who_left_and_converges(warehouse, sinks):
    chans = channels(warehouse)

    def sync(day: str, members: tuple[str, ...]) -> str:
        msg = OutboxMessage.create(f"retention_campaign:list:{day}", "crm_list", "Campagne rétention",
                                   CrmListSync("Campagne rétention", members))  # fmt: skip
        outbox.send_now(warehouse, [msg], chans, settings=FAST)
        return warehouse.query("select external_id from meta.outbox where group_key = %s", (msg.group_key,))[0][0]

    first = sync("2026-03-09", ("1", "2", "5", "77"))  # 77 is no contact
    list_id = first.split(":")[0]
    assert first == f"{list_id}: +3 -0 =3 (1 unknown contact(s): 77)"
    members = {r["recordId"] for r in sinks.crm_get(f"/crm/v3/lists/{list_id}/memberships")["results"]}
    assert members == {"1", "2", "5"}
    assert sync("2026-03-10", ("2", "5", "6")) == f"{list_id}: +1 -1 =3"  # 1 left the campaign, 6 joined
    members = {r["recordId"] for r in sinks.crm_get(f"/crm/v3/lists/{list_id}/memberships")["results"]}
    assert members == {"2", "5", "6"}
    by_name = sinks.crm_get("/crm/v3/lists/object-type-id/0-1/name/Campagne rétention")["list"]
    assert (by_name["listId"], by_name["processingType"], by_name["size"]) == (list_id, "MANUAL", 3)


def test_customer_email_to_an_opted_out_contact_is_suppressed_at_send_time(warehouse, sinks):
    mail = Email(subject="Une attention pour vous", html="<p>Bonjour</p>", text="Bonjour")
    msgs = [
        OutboxMessage.create("churn_high:c3:2026-03-10", "customer_email", "client3@exemple.fr", mail, entity="3"),
        OutboxMessage.create("churn_high:c4:2026-03-10", "customer_email", "client4@exemple.fr", mail, entity="4"),
    ]
    opted_out = {"3"}
    report = outbox.send_now(warehouse, msgs, channels(warehouse, opted_out=lambda c: c in opted_out), settings=FAST)
    assert report.total_sent == 1 and report.suppressed == ["churn_high:c3:2026-03-10|email|client3@exemple.fr"]
    assert [m["to"] for m in sinks.mails()] == [["client4@exemple.fr"]]
    status = warehouse.query("select status, last_error from meta.outbox where entity = '3'")[0]
    assert status[0] == "suppressed" and "opted out" in status[1]


def test_every_message_is_written_before_any_send(warehouse):
    """Enqueue is a plain insert in the caller's transaction: rolled back with it, kept with it."""
    ensure_schema(warehouse)
    with pytest.raises(RuntimeError), warehouse.transaction() as conn:
        outbox.enqueue(conn, alert_messages())
        raise RuntimeError("the rule's transaction failed")
    assert warehouse.query("select count(*) from meta.outbox")[0][0] == 0
    with warehouse.transaction() as conn:
        result = outbox.enqueue(conn, alert_messages(), dag_id="alerts", run_id="r1")
    assert len(result.new) == 2
    due = warehouse.query("select status, next_attempt_at <= now() + interval '1 second' from meta.outbox")
    assert due == [("pending", True), ("pending", True)]
    assert warehouse.query("select count(*) from meta.outbox_images")[0][0] == 2  # e-mail image + Slack file


def test_message_model_refuses_what_cannot_be_sent():
    with pytest.raises(ValueError, match="not referenced in the HTML"):
        Email("s", "<p>no image</p>", "t", images=(Image.png("c", PNG, "alt"),))
    with pytest.raises(ValueError, match="plain-text alternative"):
        Email("s", "<p>x</p>", " ")
    with pytest.raises(ValueError, match="cannot go to email"):
        OutboxMessage("k", "g", "alert", "email", "a@b.fr", "t", SlackPost(text="x"))
    with pytest.raises(ValueError, match="timezone-aware"):
        CrmTask("s", "b", datetime(2026, 3, 10), "1")
    with pytest.raises(ValueError, match="not a PNG"):
        Image.png("c", b"GIF89a", "alt")
    assert (datetime(2026, 3, 10, tzinfo=UTC) + timedelta(hours=4)).hour == 4
