"""DAG conventions shared by every DAG file: owner, tags, retries, timetables, Assets.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

from cs_analytics.alerts.notifiers import PipelineFailureNotifier
from cs_analytics.config import LOCAL_TZ, task_retry_delay

OWNER = "data-engineering"
# Tags a DAG may carry; tests/dags enforces it, so the UI's tag filter stays useful.
APPROVED_TAGS = frozenset(
    {
        "ingestion",
        "transformation",
        "quality",
        "ml",
        "alerting",
        "reporting",
        "crm",
        "cti",
        "erp",
        "mobile_app",
        "weather",
        "dbt",
        "great_expectations",
        "portal_analytics",
        "mailbox",
    }
)
# The layers: every DAG carries its own layer's tag (the UI's tag filter shows a layer at a time).
LAYER_TAGS = frozenset({"ingestion", "transformation", "quality", "ml", "alerting", "reporting"})
# doc_md of every DAG lists these, in a bullet list under its title (tests/dags checks them).
DOC_SECTIONS = ("When", "Inputs", "Outputs", "Owner", "Re-run one day")
START_DATE = pendulum.datetime(2024, 1, 1, tz=LOCAL_TZ)

# Tasks touching a network or a database retry with backoff. TASK_RETRY_DELAY_SECONDS
# shortens the first delay where waiting makes no sense (the demo, CI).
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": task_retry_delay(),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=20),
    # A hung task (a socket that never answers) fails instead of holding its slot for ever;
    # generous: the longest measured task, transform's dbt build at scale 10, takes ~35 min.
    "execution_timeout": timedelta(hours=2),
    # A task that fails for good tells data engineering (Slack + e-mail: task, error, log link).
    "on_failure_callback": PipelineFailureNotifier(),
}


# dagrun_timeout: a run still going after this fails, so a stuck run ends before the next one is
# due (max_active_runs=1 would hold it back). Each is below its schedule's period and above the
# longest sensor wait inside (tests/dags checks both).
DAILY_RUN_TIMEOUT = timedelta(hours=20)  # daily and weekly DAGs; ingest_cti waits 8 h for its file
PIPELINE_RUN_TIMEOUT = timedelta(hours=8)  # transform, ml_scoring, alerts: triggered once a day by Assets
REPORT_RUN_TIMEOUT = timedelta(hours=6)  # the reports wait at most REPORT_MARTS_WAIT_SECONDS (1 h) for marts
INTRADAY_RUN_TIMEOUT = timedelta(minutes=14)  # alerts_intraday runs every 15 minutes


def daily_interval(cron: str = "0 0 * * *") -> CronDataIntervalTimetable:
    """A run covers the Paris calendar day that just ended ([D 00:00, D+1 00:00) Europe/Paris)."""
    return CronDataIntervalTimetable(cron, timezone=LOCAL_TZ)


def business_hours_every_15_minutes() -> CronTriggerTimetable:
    """Every quarter of an hour while the customer service is open (Mon-Fri 08:00-17:45 Paris,
    dbt vars business_open_time / business_close_time); each run is an instant, not a period."""
    return CronTriggerTimetable("*/15 8-17 * * 1-5", timezone=LOCAL_TZ)


def daily_at(hour: int, minute: int = 0) -> CronTriggerTimetable:
    """Once a day at a Paris wall-clock time (the run is that instant)."""
    return CronTriggerTimetable(f"{minute} {hour} * * *", timezone=LOCAL_TZ)


# Data-aware scheduling: each raw dataset is an Asset; transformation waits for all of them.
RAW_CRM = Asset(name="raw_crm", uri="warehouse://raw_crm", group="raw")
RAW_CTI = Asset(name="raw_cti", uri="warehouse://raw_cti", group="raw")
RAW_ERP = Asset(name="raw_erp", uri="warehouse://raw_erp", group="raw")
RAW_APP = Asset(name="raw_app", uri="warehouse://raw_app", group="raw")
RAW_PORTAL = Asset(name="raw_portal_analytics", uri="warehouse://raw_portal", group="raw")
RAW_MAILBOX = Asset(name="raw_mailbox", uri="warehouse://raw_mailbox", group="raw")
RAW_WEATHER = Asset(name="raw_weather", uri="warehouse://raw_weather", group="raw")
RAW_ASSETS = (RAW_CRM, RAW_CTI, RAW_ERP, RAW_APP, RAW_PORTAL, RAW_MAILBOX, RAW_WEATHER)
# The source systems, read (inlets) by the ingestion tasks: the Assets page shows where each raw
# dataset comes from. Nothing produces them, so they trigger nothing.
SOURCE_CRM = Asset(name="source_crm", uri="source://hubspot_crm", group="sources")
SOURCE_CTI = Asset(name="source_cti", uri="source://cti_cdr_files", group="sources")
SOURCE_ERP = Asset(name="source_erp", uri="source://sage_erp", group="sources")
SOURCE_APP = Asset(name="source_app", uri="source://mobile_app_api", group="sources")
SOURCE_PORTAL = Asset(name="source_portal_analytics", uri="source://ga4", group="sources")
SOURCE_MAILBOX = Asset(name="source_mailbox", uri="source://graph_shared_mailbox", group="sources")
SOURCE_WEATHER = Asset(name="source_weather", uri="source://open_meteo", group="sources")
MARTS = Asset(name="marts", uri="warehouse://marts", group="marts")
ML_SCORES = Asset(name="ml_scores", uri="warehouse://ml", group="ml")
