"""The four scheduled reports (spec 3.1) built from the real dbt-built marts of the shared small
world and delivered through the outbox to the loopback SMTP server and Slack-compatible API:
what the reader gets, once per period across re-runs, and the "données incomplètes" banner
when the marts were not published after the period ended. Each report's e-mail is rendered to
PNG through headless Chromium (build/reports/), to be looked at."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cs_analytics.alerts.outbox import deliver_pending
from cs_analytics.reports.catalog import REPORTS
from cs_analytics.reports.periods import Period
from cs_analytics.reports.tasks import send_report
from scripts.alert_previews import email_html, screenshot
from tests.integration.alerting import FAST, channels
from tests.integration.alerting import sinks as sinks  # noqa: F401  (fixture)
from tests.integration.dbt_world import END_DATE, PARIS, DbtWorld, shared_world

OUT = Path(__file__).resolve().parents[2] / "build" / "reports"
# Each report's run due after the world's last day: the period it covers is the last complete
# one (daily: the last day; weekly: the ISO week ending the Sunday before; monthly: June;
# quarterly: Q2).
DUE = {
    "daily": datetime.combine(END_DATE + timedelta(days=1), datetime.min.time(), PARIS).replace(hour=8),
    "weekly": datetime(2026, 6, 29, 9, tzinfo=PARIS),
    "monthly": datetime(2026, 7, 1, 9, tzinfo=PARIS),
    "quarterly": datetime(2026, 7, 1, 10, tzinfo=PARIS),
}
RECIPIENTS = {
    "CODIR_EMAIL_TO": "codir@service-client.test",
    "DIRECTION_EMAIL_TO": "direction@service-client.test",
    "ALERT_EMAIL_TO": "claire@service-client.test",
    "FIELD_EMAIL_TO": "gaetan@service-client.test",
}


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    world = shared_world(tmp_path_factory, request)
    assert world.build_returncode == 0, world.build_output[-3000:]  # type: ignore[attr-defined]
    return world


@pytest.fixture
def env(dbt_world, sinks, monkeypatch):  # noqa: F811
    """The report tasks read the warehouse and recipients from the environment, as under Airflow;
    the outbox starts empty and the marts are published (the gate's pass) after every period."""
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", dbt_world.warehouse_url.replace("postgresql://", "postgres://", 1))
    for k, v in RECIPIENTS.items():
        monkeypatch.setenv(k, v)
    wh = dbt_world.warehouse
    from cs_analytics.schema import ensure_schema

    ensure_schema(wh)
    wh.execute("truncate meta.outbox cascade; delete from meta.dq_runs where run_id like 'test_reports%'")
    yield wh
    wh.execute("truncate meta.outbox cascade; delete from meta.dq_runs where run_id like 'test_reports%'")


def published(wh, at: datetime) -> None:
    wh.execute(
        "insert into meta.dq_runs (run_id, started_at, finished_at, as_of, validate_since, passed) "
        "values (%s, %s, %s, %s, %s, true)",
        (f"test_reports_{at.isoformat()}", at, at, at, at),
    )


def run(name: str, wh, settings=FAST) -> dict:
    context = {"data_interval_end": DUE[name], "logical_date": DUE[name], "run_id": f"test__{name}"}
    return send_report(name, context, channels=channels(wh), outbox_settings=settings)


def test_each_report_goes_out_once_per_period_with_its_charts(env, sinks):  # noqa: F811
    wh = env
    published(wh, datetime(2026, 7, 1, 6, tzinfo=PARIS))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, spec in REPORTS.items():
        before_mail, before_slack = len(sinks.mails()), len(sinks.slack())
        result = run(name, wh)
        period = Period.ending_before(spec.kind, DUE[name])
        assert result["built"] and result["complete"] and result["period"] == period.key, result["freshness"]
        new_mails = sinks.mails()[before_mail:]
        recipients = {a for m in new_mails for a in m["to"]}
        expected = {
            "daily": {"claire@service-client.test"},
            "weekly": {"claire@service-client.test", "gaetan@service-client.test"},
            "monthly": {"direction@service-client.test"},
            "quarterly": {"codir@service-client.test"},
        }[name]
        assert recipients == expected, (name, recipients)
        msg = sinks.mail(new_mails[0])
        assert spec.title in msg["Subject"] and "incomplètes" not in msg["Subject"]
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
        assert images, name  # every report carries its charts
        for part in images:
            assert f"cid:{part['Content-ID'].strip('<>')}" in html
        assert "DONNÉES INCOMPLÈTES" not in html and "None" not in text
        assert "Chiffres clés" in html and "CHIFFRES CLÉS" in text
        # the mart's own figure for the period is the one printed (first KPI of the table)
        first = spec.kpis[0]
        value = wh.query(f"select {first.column} from {spec.mart} where {spec.period_column} = %s", (period.start,))[0][
            0
        ]
        assert value is not None and first.label in text
        # one Slack summary per channel, headline and KPI fields, the chart in its thread
        posts = [m for m in sinks.slack()[before_slack:] if m["method"] == "chat.postMessage"]
        assert len({p["channel"] for p in posts}) == len(posts) >= 1
        assert spec.title in posts[0]["text"]
        screenshot(email_html(msg), OUT / f"report_{name}.png", height=9000)
        # a re-run (retry, backfill) builds nothing and sends nothing
        again = run(name, wh)
        assert again["built"] is False
        assert len(sinks.mails()) == before_mail + len(new_mails)
    sections = {
        name: wh.query(
            "select payload->>'text' from meta.outbox where group_key like %s and channel = 'email' limit 1",
            (f"report:{name}:%",),
        )[0][0]  # fmt: skip
        for name in REPORTS
    }
    assert "ALERTES DU JOUR" in sections["daily"] and "TOP DES MOTIFS" in sections["daily"]
    assert "PLANNING DES TECHNICIENS" in sections["weekly"] and "POINTS D'ATTENTION" in sections["weekly"]
    assert "COÛTS" in sections["monthly"] and "SEGMENTS CLIENTS" in sections["monthly"]
    assert "COURBE DE RÉTENTION" in sections["quarterly"] and "RECOMMANDATIONS" in sections["quarterly"]
    assert "RÉTENTION PAR COHORTE" in sections["quarterly"]


def test_a_report_on_unpublished_marts_says_so_and_is_still_sent_once(env, sinks):  # noqa: F811
    wh = env
    # the last publication happened before the period ended: the daily report must not look fresh
    published(wh, datetime(2026, 6, 30, 6, tzinfo=PARIS))
    wh.execute("delete from meta.dq_runs where passed and finished_at > %s and run_id not like 'test_reports%%'",
               (datetime(2026, 6, 30, 6, tzinfo=PARIS),))  # fmt: skip
    result = run("daily", wh)
    assert result["built"] and not result["complete"]
    msg = sinks.mail(sinks.mails()[0])
    assert msg["Subject"].startswith("⚠️ [données incomplètes]")
    assert "DONNÉES INCOMPLÈTES" in msg.get_body(("html",)).get_content()
    assert any("Données incomplètes" in str(p["blocks"]) for p in sinks.slack() if p["method"] == "chat.postMessage")
    assert run("daily", wh)["built"] is False and len(sinks.mails()) == 1


def test_an_smtp_outage_leaves_the_report_pending_and_the_next_run_sends_it_once(env, sinks):  # noqa: F811
    wh = env
    published(wh, datetime(2026, 7, 1, 6, tzinfo=PARIS))
    sinks.stop_smtp()
    backing_off = FAST.__class__(retry_base_s=60, retry_cap_s=60, max_attempts=4, wait_budget_s=0)
    with pytest.raises(RuntimeError, match="not delivered yet"):
        run("monthly", wh, backing_off)
    assert wh.query("select status, attempts from meta.outbox where group_key like 'report:monthly:%%' "
                    "and channel = 'email'") == [("pending", 1)]  # fmt: skip
    sinks.start_smtp()
    wh.execute("update meta.outbox set next_attempt_at = now() where status = 'pending'")
    again = run("monthly", wh)
    assert again["built"] is False
    assert len(sinks.mails()) == 1
    assert not wh.query("select 1 from meta.outbox where status <> 'sent'")
    # and nothing is left for a later delivery run to send twice
    assert deliver_pending(wh, channels(wh), settings=FAST).to_dict()["sent"] == []


def test_a_missing_recipient_list_is_an_error_naming_the_variable(env, sinks, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CODIR_EMAIL_TO", "codir-at-nowhere")
    with pytest.raises(ValueError, match="CODIR_EMAIL_TO"):
        run("quarterly", env)
    assert not env.query("select 1 from meta.outbox")
