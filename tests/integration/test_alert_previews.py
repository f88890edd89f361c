"""One message of each kind rendered to PNG as its reader sees it (build/alerts/): the alert
e-mail with its chart, the Slack alert with its chart in the thread, the personalised customer
e-mail, the pipeline-failure message, the CRM task. Rendered from what the loopback servers
actually received, through headless Chromium."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image as mpimg

from cs_analytics.alerts import outbox
from cs_analytics.alerts.delivery import deliver
from cs_analytics.alerts.engine import RunContext, evaluate
from cs_analytics.alerts.notifiers import failure_alert
from cs_analytics.alerts.rules import load_rules
from cs_analytics.config import AlertSettings
from scripts.alert_previews import crm_owner_names, render_from_sinks
from tests.integration.alerting import CRM_TOKEN, FAST, NOTIFY, OWNERS, channels, hand_made_marts

OUT = Path(__file__).resolve().parents[2] / "build" / "alerts"
PARIS = ZoneInfo("Europe/Paris")


def test_one_message_of_each_kind_renders_to_a_readable_png(warehouse, sinks):
    wh = hand_made_marts(warehouse)
    as_of = date(2026, 3, 10)
    wh.execute(
        "insert into marts.mart_kpi_daily select d::date, d::date = %s, "
        "case when d::date = %s then 86 else 38 + (extract(doy from d)::int * 7) %% 25 end, 70, 70, 80 "
        "from generate_series(%s::date - 27, %s::date, interval '1 day') d",
        (as_of, as_of, as_of, as_of),
    )
    wh.execute(
        "insert into intermediate.int_survey_answers_flagged (feedback_submission_id, contact_id, ticket_id, "
        "ticket_subject, customer_name, owner_id, response_value, submitted_at, is_vip_dissatisfied) values "
        "('fb1', '4', '504', 'Chaudière en panne depuis lundi', 'Boulangerie Nom4', %s, 1, %s, true)",
        (OWNERS[1], datetime(2026, 3, 10, 16, 40, tzinfo=PARIS)),
    )
    wh.execute(
        "insert into marts.dim_customer_contact values ('c1', '1', %s, 'Prénom1 Nom1', 'Prénom1', 'Nom1', "
        "'client1@exemple.fr', false, '2019-05-02', 'Gaëtan Roux', '2026-02-20')",
        (OWNERS[0],),
    )
    wh.execute(
        "insert into ml.churn_scores values (%s, 'c1', 83, 0.83, 'élevé', %s, %s, 2, now())",
        (as_of, ["satisfaction moyenne de 2,1/5 sur 6 mois", "3 réclamations en 90 jours",
                 "aucun appel depuis 74 jours"], ["avg_satisfaction", "complaints", "days_since_last_contact"]),
    )  # fmt: skip
    ctx = RunContext(as_of, datetime(2026, 3, 11, 0, 0, tzinfo=PARIS), dag_id="alerts",
                     run_id="scheduled__2026-03-10T23:00:00+00:00",
                     settings=AlertSettings(dashboard_base_url="http://localhost:8088"), notify=NOTIFY)  # fmt: skip
    report = evaluate(wh, load_rules(), "daily", ctx, only={"calls_overload", "vip_dissatisfied", "churn_high"})
    assert report.errors == []
    assert not outbox.deliver_pending(wh, channels(wh, opted_out=lambda contact: False), settings=FAST).retrying

    class TaskInstance:  # what a failing task's context carries
        dag_id, task_id, run_id, map_index, try_number = "ingest_erp", "load", "scheduled__2026-03-10", 2, 3
        log_url = "http://localhost:8080/dags/ingest_erp/runs/scheduled__2026-03-10/tasks/load/mapped/2?try_number=3"

    failure = failure_alert({"task_instance": TaskInstance(), "run_id": TaskInstance.run_id,
                             "exception": ConnectionError("Sage: connexion refusée (127.0.0.1:1433)")})  # fmt: skip
    deliver([failure], wh, channels=channels(wh), settings=NOTIFY, outbox_settings=FAST, kind="pipeline")

    written = render_from_sinks(OUT, sinks.maildir, sinks.tmp / "slack", sinks.crm_url, CRM_TOKEN,
                                crm_owner_names(sinks.crm_url, CRM_TOKEN))  # fmt: skip
    names = sorted(p.name for p in written)
    assert names == ["alert_email.png", "crm_task.png", "customer_email.png", "pipeline_email.png",
                     "slack_alert.png", "slack_pipeline.png"]  # fmt: skip
    for path in written:
        img = mpimg.imread(path)
        height, width = img.shape[:2]
        assert width == 780 and 200 < height < 2400, (path.name, img.shape)
        assert img[..., :3].std() > 0.05, f"{path.name} looks blank"
    # the alert e-mail shown is one with its chart: twice the height of one without
    assert mpimg.imread(OUT / "alert_email.png").shape[0] > 600
