"""The whole pipeline through Airflow (`airflow dags test`), end to end, on a fresh small world.

Everything real: the generator writes a world into temporary folders and a throw-away ERP
database; the simulated CRM and app APIs and the Slack/SMTP sinks run in this process;
every DAG runs in an `airflow dags test` subprocess against a throw-away warehouse.
Re-running the ingestion DAGs is checked per loader here (tests/integration/test_ingest_*) and, for
every DAG three times over every table, by `make test-reliability` (test_ingestion_idempotence).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cs_analytics.orchestration import MARTS
from cs_analytics.transform.bi_access import BI_ROLE
from cs_analytics.warehouse import Warehouse
from scripts.demo import INGESTION, PIPELINE, dags_test, dags_test_together
from simulators import app_api, crm_api, ga4_api, graph_api, stores, weather_api
from simulators.export import WEATHER_STORE, Destinations, generate
from simulators.httpbase import serve_in_thread
from simulators.sinks import inbox, slack_api, smtp_sink
from simulators.world import WorldConfig
from simulators.world.config import PARIS
from tests.conftest import AIRFLOW_METADATA, throwaway_database

pytestmark = [pytest.mark.e2e, AIRFLOW_METADATA]

# A winter Sunday: Mondays ahead are the busiest days, so the forecast-overload alert fires.
END = date(2026, 1, 11)
RUN_AFTER = datetime.combine(END + timedelta(days=1), datetime.min.time(), PARIS)
SLACK_TOKEN = "xoxb-e2e"
GRAPH_SECRET = "graph-e2e"


def _conn_env(url: str) -> str:
    return url.replace("postgresql://", "postgres://", 1)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, server_url):
    tmp = tmp_path_factory.mktemp("e2e")
    with (
        throwaway_database(server_url, "e2e_wh") as wh_url,
        throwaway_database(server_url, "e2e_erp") as erp_url,
        throwaway_database(server_url, "e2e_mlflow") as mlflow_url,
    ):
        dest = Destinations(tmp / "sim", tmp / "truth", tmp / "landing", erp_url)
        generate(WorldConfig(end_date=END, seed=7, scale=1, years=1), dest, log=lambda _: None)
        crm = crm_api.make_server(
            store_path=dest.data_dir / "crm.sqlite", token="crm-e2e", rate_limit_per_10s=0, search_per_second=0
        )
        app = app_api.make_server(store_path=dest.data_dir / "mobile_app.sqlite", token="app-e2e", rate_limit_per_10s=0)
        ga4 = ga4_api.make_server(store_path=dest.data_dir / ga4_api.STORE_NAME, key_path=tmp / "ga4-key.json")
        graph = graph_api.make_server(store_path=dest.data_dir / graph_api.STORE_NAME, client_secret=GRAPH_SECRET)
        weather = weather_api.make_server(store_path=dest.data_dir / WEATHER_STORE, calls_per_minute=0)
        slack = slack_api.make_server(store_dir=tmp / "slack", token=SLACK_TOKEN)
        mail = smtp_sink.make_controller(maildir=tmp / "mail")
        with (
            serve_in_thread(crm) as crm_url,
            serve_in_thread(app) as app_url,
            serve_in_thread(ga4) as ga4_url,
            serve_in_thread(graph) as graph_url,
            serve_in_thread(weather) as weather_url,
            serve_in_thread(slack) as slack_url,
            smtp_sink.serve_in_thread(mail) as (smtp_host, smtp_port),
        ):
            env = dict(os.environ)
            env.update(
                {
                    "AIRFLOW_CONN_WAREHOUSE": _conn_env(wh_url),
                    "AIRFLOW_CONN_ERP_DB": _conn_env(erp_url),
                    "AIRFLOW_CONN_CRM_API": json.dumps({"conn_type": "http", "host": crm_url, "password": "crm-e2e"}),
                    "AIRFLOW_CONN_MOBILE_APP_API": json.dumps(
                        {"conn_type": "http", "host": app_url, "password": "app-e2e"}
                    ),
                    "AIRFLOW_CONN_PORTAL_ANALYTICS_API": json.dumps(
                        {
                            "conn_type": "http",
                            "host": ga4_url,
                            "extra": {
                                "property_id": ga4_api.PROPERTY_ID,
                                "key_path": str(tmp / "ga4-key.json"),
                                "token_uri": f"{ga4_url}/token",
                            },
                        }
                    ),  # fmt: skip
                    "AIRFLOW_CONN_MAILBOX_API": json.dumps(
                        {
                            "conn_type": "http",
                            "host": graph_url,
                            "login": graph_api.CLIENT_ID,
                            "password": GRAPH_SECRET,
                            "extra": {
                                "tenant_id": graph_api.TENANT_ID,
                                "mailbox": "service-client@service-client.local",
                                "authority": graph_url,
                            },
                        }
                    ),  # fmt: skip
                    "AIRFLOW_CONN_WEATHER_API": json.dumps({"conn_type": "http", "host": weather_url}),
                    # the one-year world's forecast runs start a year back; 120 days of runs are plenty
                    "WEATHER_FORECAST_BACKFILL_DAYS": "120",
                    "AIRFLOW_CONN_CTI_LANDING": json.dumps(
                        {"conn_type": "fs", "extra": {"path": str(dest.landing_dir)}}
                    ),
                    "AIRFLOW_CONN_SLACK_API": json.dumps(
                        {"conn_type": "slack", "password": SLACK_TOKEN, "extra": {"base_url": f"{slack_url}/api/"}}
                    ),
                    "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                        {
                            "conn_type": "smtp",
                            "host": smtp_host,
                            "port": smtp_port,
                            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "analytics@e2e.local"},
                        }
                    ),
                    "SLACK_SIM_STORE": str(tmp / "slack"),
                    "SMTP_SIM_MAILDIR": str(tmp / "mail"),
                    "TASK_RETRY_DELAY_SECONDS": "1",
                    # the model registry of this world only
                    "MLFLOW_TRACKING_URI": mlflow_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                    "MLFLOW_ARTIFACT_ROOT": str(tmp / "mlruns"),
                }
            )
            env.pop("SLACK_BOT_TOKEN", None)
            # A fresh warehouse first catches up to the day before (the backfill), then the daily run.
            backfill = [(dag_id, RUN_AFTER - timedelta(days=1)) for dag_id in INGESTION]
            dags_test_together(backfill, log_dir=tmp / "logs_backfill", env=env)
            dags_test_together([(dag_id, RUN_AFTER) for dag_id in INGESTION], log_dir=tmp / "logs", env=env)
            for dag_id in PIPELINE[len(INGESTION) :]:
                dags_test(dag_id, RUN_AFTER, log_dir=tmp / "logs", env=env)
            yield {
                "wh": Warehouse(wh_url),
                "dest": dest,
                "tmp": tmp,
                "env": env,
                "manifest": json.loads((dest.ground_truth_dir / "manifest.json").read_text()),
            }


def test_every_source_row_is_loaded_or_quarantined(pipeline):
    wh, counts = pipeline["wh"], pipeline["manifest"]["row_counts"]
    raw = dict(
        wh.query(
            "select 'tickets', count(*) from raw_crm.tickets union all "
            "select 'contacts', count(*) from raw_crm.contacts union all "
            "select 'interventions', count(*) from raw_app.interventions union all "
            "select 'f_docentete', count(*) from raw_erp.f_docentete union all "
            "select 'calls', count(*) from raw_cti.calls union all "
            "select 'portal_days', count(*) from raw_portal.daily_traffic union all "
            "select 'portal_pages', count(*) from raw_portal.page_traffic union all "
            "select 'messages', count(*) filter (where not is_removed) from raw_mailbox.messages"
        )
    )
    quarantined = dict(
        wh.query("select object, count(*) from meta.quarantine where resolved_at is null group by object")
    )
    assert raw["tickets"] == counts["crm"]["tickets"] and raw["contacts"] == counts["crm"]["contacts"]
    assert raw["interventions"] == counts["app"]["interventions"]
    assert raw["f_docentete"] == counts["erp"]["F_DOCENTETE"]
    assert raw["messages"] == counts["mailbox"]["messages"]
    assert raw["portal_days"] + raw["portal_pages"] == counts["portal_analytics"]["traffic_rows"]
    # CDR lines: every one is in raw or in quarantine with a reason.
    assert raw["calls"] + quarantined.get("calls", 0) == counts["cti"]["rows"]
    assert all(n > 0 for n in raw.values())


def test_the_daily_run_reads_only_its_own_interval(pipeline):
    """After the backfill, the run for END reads the records changed on END (plus the overlap), no more."""
    wh, dest = pipeline["wh"], pipeline["dest"]
    day_start = datetime.combine(END, datetime.min.time(), PARIS)
    day_end = day_start + timedelta(days=1)
    batches = {
        obj: (read, start)
        for obj, read, start in wh.query(
            # the first load of the day's interval (a later test re-runs it)
            "select distinct on (object) object, rows_read, window_start from meta.load_batches "
            "where interval_end = %s order by object, started_at",
            (day_end,),
        )
    }
    backfill = dict(wh.query("select object, rows_read from meta.load_batches where interval_end = %s", (day_start,)))
    read, window_start = batches["tickets"]
    # The window starts at the earlier of midnight and the watermark (the last change the backfill
    # saw), minus the 15-minute overlap: no gap is possible, and it stays within the previous day.
    assert day_start - timedelta(days=1) <= window_start <= day_start - timedelta(minutes=15)
    conn = stores.connect_crm(dest.data_dir / "crm.sqlite")
    in_window = conn.execute(
        "select count(*) from objects where object_type = 'tickets' and updated_at >= ? and updated_at < ?",
        (stores.iso_utc(window_start), stores.iso_utc(day_end)),
    ).fetchone()[0]
    total = conn.execute("select count(*) from objects where object_type = 'tickets'").fetchone()[0]
    conn.close()
    assert read == in_window and 0 < read < total / 50
    assert backfill["tickets"] + read >= total
    assert batches["calls"][0] < 200  # one day of calls, not the history
    # GA4: the day plus the trailing revision window; the mailbox: the changes since the backfill's delta link.
    read, window_start = batches["page_traffic"]
    assert window_start == day_start - timedelta(days=3) and 0 < read < 120
    assert batches["messages"][0] < 200


def test_quality_gate_ran_and_passed(pipeline):
    rows = pipeline["wh"].query(
        "select count(*), count(*) filter (where not success and severity = 'critical') from meta.dq_results"
    )
    total, critical_failures = rows[0]
    assert total > 0 and critical_failures == 0


def test_forecast_written_for_the_next_30_days(pipeline):
    rows = pipeline["wh"].query(
        "select min(target_date), max(target_date), count(*), "
        "bool_and(yhat_lower <= yhat and yhat <= yhat_upper) "
        "from ml.call_volume_forecast where forecast_date = %s",
        (END,),
    )
    first, last, n, ordered = rows[0]
    assert (first, last, n, ordered) == (END + timedelta(days=1), END + timedelta(days=30), 30, True)


def test_ml_scores_segments_and_anomalies_written_by_the_champions(pipeline):
    rows = pipeline["wh"].query(
        "select (select count(*) from ml.churn_scores where as_of_date = %(d)s), "
        "(select count(*) from ml.customer_segments where as_of_date = %(d)s), "
        "(select count(distinct model) from ml.feature_drift where as_of_date = %(d)s), "
        "(select count(*) from ml.model_runs where model in ('churn_lightgbm', 'segmentation_kmeans'))",
        {"d": END},
    )
    scores, segments, drifted_models, trainings = rows[0]
    assert scores > 0 and segments > 0 and drifted_models == 2 and trainings == 2


def test_the_models_dashboard_view_shows_the_first_forecast(pipeline):
    """ml.call_volume_forecast did not exist when the transform DAG built the marts: ml_scoring's
    present_ml_outputs group rebuilt the view the dashboard reads, so it shows this forecast."""
    rows = pipeline["wh"].query(
        "select count(*) filter (where forecast_calls is not null), max(forecast_date) from marts.pres_call_volume_forecast"
    )
    assert rows[0] == (30, END)


def test_the_models_tiles_and_the_plannings_show_what_ml_scoring_wrote(pipeline):
    """The other ml_outputs marts, rebuilt after the scoring run: the customers at risk carry the
    day's retention campaign, every segmented customer is in a segment's count, the anomalies
    tile lists the last 30 days', and the planning day's visits carry the route plan."""
    wh = pipeline["wh"]
    at_risk, campaign, segmented, scored, listed, recent = wh.query(
        "select (select count(*) filter (where is_in_campaign) from marts.pres_churn_risk where as_of_date = %(d)s), "
        "(select count(*) from ml.retention_campaign where as_of_date = %(d)s), "
        "(select sum(customers) from marts.pres_customer_segments where as_of_date = %(d)s), "
        "(select count(*) from ml.customer_segments where as_of_date = %(d)s), "
        "(select count(*) from marts.pres_anomalies), "
        "(select count(*) from ml.anomalies where anomaly_date > %(d)s::date - 30)",
        {"d": END},
    )[0]
    assert at_risk == campaign and segmented == scored > 0 and listed == recent
    planned, routed, unplanned = wh.query(
        "select count(*) filter (where appointments.route_order is not null), "
        "(select count(*) from ml.technician_routes where route_date = min(appointments.planning_date) "
        "and technician_id = office_technician_id), "
        "count(*) filter (where appointments.travel_label like '%%pas encore calculé%%') "
        "from marts.pres_technician_appointments as appointments"
    )[0]
    assert planned == routed > 0 and unplanned == 0


def test_weather_loaded_and_forecast_uses_it(pipeline):
    wh = pipeline["wh"]
    observed, runs, last_run = wh.query(
        "select (select count(*) from raw_weather.daily_observations), count(distinct run_date), max(run_date) "
        "from raw_weather.daily_forecasts"
    )[0]
    assert observed > 365 and runs == 121 and last_run == END  # the backfill's 120, then the day's
    leads = wh.query(
        "select count(weather_lead_days), min(weather_lead_days), max(weather_lead_days) "
        "from ml.call_volume_forecast where forecast_date = %s",
        (END,),
    )
    assert leads == [(15, 1, 15)]  # J+1..J+15 from the run issued on END; later days from climatology


def test_next_day_routes_planned_and_replaced_on_rerun(pipeline):
    wh = pipeline["wh"]
    query = (
        "select count(*), count(distinct technician_id), bool_and(planned_arrival <= window_end), "
        "bool_and(planned_arrival >= window_start) from ml.technician_routes where route_date = %s"
    )
    before = wh.query(query, (END + timedelta(days=1),))[0]
    booked = wh.query("select count(*) from marts.ml_route_stops where work_date = %s", (END + timedelta(days=1),))[0][
        0
    ]
    assert before[0] == booked > 0 and before[2] and before[3]
    dags_test("ml_scoring", RUN_AFTER, log_dir=pipeline["tmp"] / "logs_ml_rerun", env=pipeline["env"])
    assert wh.query(query, (END + timedelta(days=1),))[0] == before


def test_alerts_delivered_through_the_outbox_and_not_resent(pipeline):
    tmp, wh = pipeline["tmp"], pipeline["wh"]
    sent = dict(wh.query("select channel, count(*) from marts.alert_delivery_log where status = 'sent' group by 1"))
    assert {"email", "slack"} <= sent.keys()
    assert not wh.query("select message_key, last_error from meta.outbox where status in ('pending', 'failed')")
    assert len(inbox.mails(tmp / "mail")) == sent["email"]
    posts = [m for m in inbox.slack_messages(tmp / "slack") if m["method"] == "chat.postMessage"]
    assert len(posts) == sent["slack"]
    # Re-running the alerts DAG for the same day sends nothing new.
    dags_test("alerts", RUN_AFTER, log_dir=tmp / "logs_rerun", env=pipeline["env"])
    assert len(inbox.mails(tmp / "mail")) == sent["email"]
    assert len([m for m in inbox.slack_messages(tmp / "slack") if m["method"] == "chat.postMessage"]) == sent["slack"]


def test_intraday_alerts_run_in_business_hours_under_airflow(pipeline):
    """Monday 09:00 Paris: the CRM is read incrementally, the real-time rules evaluated, the outbox delivered."""
    tmp, wh = pipeline["tmp"], pipeline["wh"]
    before = wh.query("select max(watermark) from meta.watermarks where source = 'crm' and object = 'tickets'")[0][0]
    monday_9am = RUN_AFTER + timedelta(days=1, hours=9)
    dags_test("alerts_intraday", monday_9am, log_dir=tmp / "logs_intraday", env=pipeline["env"])
    batches = wh.query("select object from meta.load_batches where dag_id = 'alerts_intraday' order by 1")
    assert [b[0] for b in batches] == ["contacts", "feedback_submissions", "tickets"]
    assert wh.query("select max(watermark) from meta.watermarks where source = 'crm' and object = 'tickets'")[0][0] >= (
        before
    )
    backlog = wh.query(
        "select count(*) from intermediate.int_open_tickets_aged where alert_age_reached_at <= %s", (monday_9am,)
    )[0][0]
    fired = wh.query("select count(*) from meta.outbox where rule = 'tickets_waiting_over_24h'")[0][0]
    assert (fired > 0) == (backlog > 5)  # the live backlog decides, with the mart's threshold
    assert not wh.query("select 1 from meta.outbox where status in ('pending', 'failed')")


def test_ground_truth_is_not_read_by_the_pipeline():
    """The pipeline code never mentions the ground-truth folder."""
    root = Path(__file__).resolve().parents[2]
    for folder in ("dags", "plugins", "ml_tasks", "dbt_project", "expectations"):
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".sql", ".yml", ".yaml"}:
                assert "GROUND_TRUTH" not in path.read_text(errors="ignore"), path


def _bi_read(pipeline, statement: str) -> list[tuple]:
    conninfo = psycopg.conninfo.make_conninfo(
        pipeline["wh"].dsn, user=BI_ROLE, password=os.environ["BI_READER_PASSWORD"]
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(statement).fetchall()


def _marts_asset_events() -> int:
    """Events of the `marts` Asset sent by transform (what triggers ml_scoring), in Airflow's DB."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select count(*) from asset_event e join asset a on a.id = e.asset_id "
            "where a.name = %s and e.source_dag_id = 'transform'",
            (MARTS.name,),
        ).fetchone()[0]


def test_a_critical_gate_failure_publishes_nothing_and_bi_keeps_yesterdays_marts(pipeline):
    """Issue 9 item 9 (write-audit-publish). The next day's transform runs before that day's data
    exist: dbt builds marts with an empty day, the mart gate blocks it (a volume collapse), and
    BI, ML and alerts keep the last good marts — the build stays hidden, no `marts` Asset event."""
    published = (
        "select count(*), max(kpi_date), sum(calls_per_day), "
        "(select md5(string_agg(ticket_id || ':' || coalesce(open_age_calendar_hours::text, '-'), ',' "
        "order by ticket_id)) from marts.fct_tickets) from marts.mart_kpi_daily"
    )
    before = _bi_read(pipeline, published)
    assert before[0][1] == END
    events_before = _marts_asset_events()
    assert events_before >= 1  # the passing run published (and told the Asset)

    with pytest.raises(SystemExit, match="DAG transform failed.*quality_gate_marts"):
        dags_test(
            "transform", RUN_AFTER + timedelta(days=1), log_dir=pipeline["tmp"] / "logs_gate", env=pipeline["env"]
        )

    wh = pipeline["wh"]
    assert wh.query("select max(kpi_date) from marts_build.mart_kpi_daily")[0][0] == END + timedelta(days=1)
    run = wh.query("select passed, critical_failures from meta.dq_runs order by started_at desc limit 1")[0]
    assert run[0] is False and run[1] >= 1
    assert _bi_read(pipeline, published) == before  # yesterday's marts, to the open tickets' ages
    assert _marts_asset_events() == events_before  # so neither ml_scoring nor alerts is triggered
    forecasts = wh.query("select max(forecast_date) from ml.call_volume_forecast")[0][0]
    assert forecasts == END
