"""Connection ids and settings: the one place that knows them.

Connections come from Airflow (`AIRFLOW_CONN_<ID>` environment variables locally,
any secrets backend in production); settings from environment variables, each
documented in `.env.example` and the README. No other module of the package reads
the environment.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

WAREHOUSE_CONN_ID = "warehouse"
CRM_CONN_ID = "crm_api"
ERP_CONN_ID = "erp_db"
MOBILE_APP_CONN_ID = "mobile_app_api"
CTI_LANDING_CONN_ID = "cti_landing"
SMTP_CONN_ID = "smtp_default"
SLACK_CONN_ID = "slack_api"
PORTAL_ANALYTICS_CONN_ID = "portal_analytics_api"
MAILBOX_CONN_ID = "mailbox_api"
WEATHER_CONN_ID = "weather_api"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_TZ = "Europe/Paris"


def _env_text(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from exc


@dataclass(frozen=True)
class IngestSettings:
    # Above this share of a batch in quarantine, the load task fails (the good rows stay loaded).
    quarantine_max_rate: float = 0.01
    # Incremental API reads start this far before the watermark, so records committed late are not missed.
    api_overlap: timedelta = timedelta(minutes=15)
    # ERP reads look back this far for transactions committed after a previous read started.
    erp_lookback: timedelta = timedelta(hours=2)
    http_timeout_s: float = 30.0
    http_max_retries: int = 6
    # CDR files of different days load in parallel on this many connections.
    cti_load_workers: int = 2  # the cores of the reference machine: see ingest/cti.py
    # GA4 keeps processing a day for up to ~72 h: each run re-reads this many days before its watermark.
    ga4_revision_days: int = 3
    # Messages per Graph delta page (Prefer: odata.maxpagesize); Graph's default is 10.
    graph_page_size: int = 200
    # A CDR re-delivery may leave its day with at most this share fewer rows; beyond, it is held.
    cti_replacement_max_drop: float = 0.05
    # A CDR file whose last line has no terminator is still being written until unchanged this long.
    cti_partial_file_wait: timedelta = timedelta(minutes=30)

    @classmethod
    def from_env(cls) -> IngestSettings:
        return cls(
            quarantine_max_rate=_env_float("QUARANTINE_MAX_RATE", cls.quarantine_max_rate),
            api_overlap=timedelta(minutes=_env_float("API_OVERLAP_MINUTES", 15)),
            erp_lookback=timedelta(minutes=_env_float("ERP_LOOKBACK_MINUTES", 120)),
            http_timeout_s=_env_float("HTTP_TIMEOUT_SECONDS", cls.http_timeout_s),
            http_max_retries=int(_env_float("HTTP_MAX_RETRIES", cls.http_max_retries)),
            cti_load_workers=int(_env_float("CTI_LOAD_WORKERS", cls.cti_load_workers)),
            ga4_revision_days=int(_env_float("GA4_REVISION_DAYS", cls.ga4_revision_days)),
            graph_page_size=int(_env_float("GRAPH_PAGE_SIZE", cls.graph_page_size)),
            cti_replacement_max_drop=_env_float("CTI_REPLACEMENT_MAX_DROP", cls.cti_replacement_max_drop),
            cti_partial_file_wait=timedelta(minutes=_env_float("CTI_PARTIAL_FILE_WAIT_MINUTES", 30)),
        )


_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")
_SLACK_CHANNEL = re.compile(r"#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,}")


def email_list(name: str, default: str) -> tuple[str, ...]:
    """Comma-separated addresses from `name`; an empty or malformed list is an error naming it."""
    raw = os.environ.get(name)
    raw = default if raw is None else raw
    addresses = tuple(a.strip() for a in raw.split(","))
    if not any(addresses):
        raise ValueError(f"environment variable {name} is empty: it needs at least one e-mail address")
    bad = [a for a in addresses if not _EMAIL.fullmatch(a)]
    if bad:
        raise ValueError(f"environment variable {name}: {', '.join(repr(b) for b in bad)} is not an e-mail address")
    return addresses


def slack_channel(name: str, default: str) -> str:
    value = (os.environ.get(name) or default).strip()
    if not _SLACK_CHANNEL.fullmatch(value):
        raise ValueError(
            f"environment variable {name}={value!r} is not a Slack channel (#name in lower case, or a channel id)"
        )
    return value


@dataclass(frozen=True)
class Audience:
    """Who hears an alert: e-mail addresses and a Slack channel, from the environment."""

    name: str
    emails: tuple[str, ...]
    slack_channel: str


# audience -> (e-mail variable, default, Slack variable, default). The rules file names audiences.
AUDIENCE_SETTINGS = {
    "service_client": (
        "ALERT_EMAIL_TO",
        "claire@service-client.local",
        "SLACK_ALERT_CHANNEL",
        "#service-client-alertes",
    ),
    "field": ("FIELD_EMAIL_TO", "gaetan@service-client.local", "SLACK_FIELD_CHANNEL", "#terrain"),
    "direction": ("DIRECTION_EMAIL_TO", "direction@service-client.local", "SLACK_DIRECTION_CHANNEL", "#direction"),
    # the management committee: the quarterly strategic report (spec 3.1, "CODIR")
    "codir": ("CODIR_EMAIL_TO", "codir@service-client.local", "SLACK_CODIR_CHANNEL", "#codir"),
    "data_engineering": (
        "DATA_ENGINEERING_EMAIL_TO",
        "data-eng@service-client.local",
        "SLACK_DATA_CHANNEL",
        "#data-engineering",
    ),
}


@dataclass(frozen=True)
class NotifySettings:
    alert_email_to: tuple[str, ...]
    data_engineering_email_to: tuple[str, ...]
    slack_alert_channel: str
    slack_data_channel: str
    audiences: dict[str, Audience] | None = None

    @classmethod
    def from_env(cls) -> NotifySettings:
        audiences = {
            name: Audience(name, email_list(email_var, email_default), slack_channel(slack_var, slack_default))
            for name, (email_var, email_default, slack_var, slack_default) in AUDIENCE_SETTINGS.items()
        }
        return cls(
            alert_email_to=audiences["service_client"].emails,
            data_engineering_email_to=audiences["data_engineering"].emails,
            slack_alert_channel=audiences["service_client"].slack_channel,
            slack_data_channel=audiences["data_engineering"].slack_channel,
            audiences=audiences,
        )

    def audience(self, name: str) -> Audience:
        audiences = self.audiences or {
            "service_client": Audience("service_client", self.alert_email_to, self.slack_alert_channel),
            "data_engineering": Audience("data_engineering", self.data_engineering_email_to, self.slack_data_channel),
        }
        if name not in audiences:
            raise ValueError(f"unknown audience {name!r}; known: {', '.join(sorted(audiences))}")
        return audiences[name]


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts point people to, and who they come from."""

    rules_file: Path = PROJECT_ROOT / "plugins" / "cs_analytics" / "alerts" / "rules.yml"
    dashboard_base_url: str = "http://localhost:8088"
    airflow_base_url: str = "http://localhost:8080"
    email_from: str | None = None  # None: the SMTP connection's from_email
    customer_unsubscribe_url: str = "https://www.service-client.example/desabonnement"

    @classmethod
    def from_env(cls) -> AlertSettings:
        return cls(
            rules_file=Path(_env_text("ALERT_RULES_FILE", str(cls.rules_file))),
            dashboard_base_url=_env_text("DASHBOARD_BASE_URL", cls.dashboard_base_url).rstrip("/"),
            airflow_base_url=_env_text("AIRFLOW__API__BASE_URL", cls.airflow_base_url).rstrip("/"),
            email_from=os.environ.get("ALERT_EMAIL_FROM") or None,
            customer_unsubscribe_url=_env_text("CUSTOMER_UNSUBSCRIBE_URL", cls.customer_unsubscribe_url),
        )


@dataclass(frozen=True)
class OutboxSettings:
    """How the outbox retries: exponential backoff from `retry_base_s` up to `retry_cap_s`, at
    most `max_attempts` tries; a run waits for messages coming due within `wait_budget_s`."""

    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0
    max_attempts: int = 10
    wait_budget_s: float = 20.0
    lease_s: float = 600.0
    batch_size: int = 50

    @classmethod
    def from_env(cls) -> OutboxSettings:
        return cls(
            retry_base_s=_env_float("OUTBOX_RETRY_BASE_SECONDS", cls.retry_base_s),
            retry_cap_s=_env_float("OUTBOX_RETRY_CAP_SECONDS", cls.retry_cap_s),
            max_attempts=int(_env_float("OUTBOX_MAX_ATTEMPTS", cls.max_attempts)),
            wait_budget_s=_env_float("OUTBOX_WAIT_BUDGET_SECONDS", cls.wait_budget_s),
        )


@dataclass(frozen=True)
class ReportSettings:
    """How long a report waits for its period's marts (sensor in reschedule mode, looking every
    `poke_s`) before it goes out with a "données incomplètes" banner."""

    wait_s: float = 3600.0
    poke_s: float = 300.0

    @classmethod
    def from_env(cls) -> ReportSettings:
        return cls(
            wait_s=_env_float("REPORT_MARTS_WAIT_SECONDS", cls.wait_s),
            poke_s=_env_float("REPORT_MARTS_POKE_SECONDS", cls.poke_s),
        )


@dataclass(frozen=True)
class CtiWaitSettings:
    """How long ingest_cti waits for a late CDR file, and how often it looks."""

    poke_seconds: int = 300
    timeout_hours: float = 8.0

    @classmethod
    def from_env(cls) -> CtiWaitSettings:
        return cls(
            int(_env_float("CTI_FILE_POKE_SECONDS", cls.poke_seconds)),
            _env_float("CTI_FILE_WAIT_HOURS", cls.timeout_hours),
        )


@dataclass(frozen=True)
class QualitySettings:
    # Rows copied to meta.dq_quarantine per failed expectation and run, at most.
    quarantine_cap: int = 1000
    # Validation results (JSON, and their Data Docs pages) kept for this many runs; the full
    # history is in meta.dq_results.
    docs_keep_runs: int = 30
    data_docs_dir: Path = PROJECT_ROOT / "build" / "data_docs"

    @classmethod
    def from_env(cls) -> QualitySettings:
        return cls(
            quarantine_cap=int(_env_float("DQ_QUARANTINE_CAP", cls.quarantine_cap)),
            docs_keep_runs=int(_env_float("DQ_DOCS_KEEP_RUNS", cls.docs_keep_runs)),
            data_docs_dir=Path(_env_text("DQ_DATA_DOCS_DIR", str(cls.data_docs_dir))).resolve(),
        )


def business_hours() -> tuple[time, time]:
    """The customer service's opening hours (Mon-Fri, Paris): dbt's vars business_open_time and
    business_close_time, the one place they are set."""
    import yaml

    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    v = project["vars"]
    return time.fromisoformat(v["business_open_time"]), time.fromisoformat(v["business_close_time"])


def task_retry_delay() -> timedelta:
    """First retry delay of every task (exponential after); the demo and CI shorten it."""
    return timedelta(seconds=_env_float("TASK_RETRY_DELAY_SECONDS", 120))


def dbt_target_schema() -> str:
    return _env_text("DBT_TARGET_SCHEMA", "analytics")


DBT_EXECUTION_MODES = ("watcher", "local")


def dbt_execution_mode() -> str:
    """How Airflow runs dbt: `watcher` (one dbt build, per-model tasks follow it) or `local`
    (one dbt invocation per model and per test); see transform/dbt.py."""
    mode = _env_text("DBT_EXECUTION_MODE", "watcher").lower()
    if mode not in DBT_EXECUTION_MODES:
        raise ValueError(f"DBT_EXECUTION_MODE={mode!r}: expected one of {', '.join(DBT_EXECUTION_MODES)}")
    return mode


DBT_INVOCATION_MODES = ("subprocess", "dbt_runner")


def dbt_invocation_mode() -> str:
    """How a task starts dbt: `dbt_runner` (in the task's process) or `subprocess`. Unset: the
    faster for the execution mode (benchmarks/transform_overhead.py): watcher -> subprocess
    (its results are read from dbt's JSON log lines; in-process, every debug event of dbt goes
    through the watcher's callback), local -> dbt_runner (no interpreter start per task)."""
    mode = _env_text("DBT_INVOCATION_MODE", "subprocess" if dbt_execution_mode() == "watcher" else "dbt_runner")
    if mode.lower() not in DBT_INVOCATION_MODES:
        raise ValueError(f"DBT_INVOCATION_MODE={mode!r}: expected one of {', '.join(DBT_INVOCATION_MODES)}")
    return mode.lower()


def warehouse_role_conn_id(flow: str) -> str:
    """The connection a flow (loader, transformer, ml, alerting) reaches the warehouse with:
    `warehouse_<flow>`, logging in as the flow's role (roles.py)."""
    return f"{WAREHOUSE_CONN_ID}_{flow}"


def single_role() -> bool:
    """WAREHOUSE_SINGLE_ROLE=true: every flow uses the owner's `warehouse` connection (a deployment
    without the flow roles). Never implied: unset, a missing role connection is an error."""
    raw = _env_text("WAREHOUSE_SINGLE_ROLE", "false").strip().lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"WAREHOUSE_SINGLE_ROLE={raw!r}: expected true or false")
    return raw in ("true", "1", "yes")


BI_READER_PASSWORD_ENV = "BI_READER_PASSWORD"


def bi_reader_password() -> str:
    """The read-only BI role's password; empty when unset (the caller says what is missing)."""
    return os.environ.get(BI_READER_PASSWORD_ENV, "")


@dataclass(frozen=True)
class MlSettings:
    """Where the model registry lives (MLflow): tracking/registry database and artifact folder."""

    tracking_uri: str
    artifact_root: Path

    @classmethod
    def from_env(cls) -> MlSettings:
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise ValueError(
                "MLFLOW_TRACKING_URI is not set: the model registry needs a database "
                "(locally scripts/stack.py sets the `mlflow` database of the embedded cluster)"
            )
        root = os.environ.get("MLFLOW_ARTIFACT_ROOT") or str(PROJECT_ROOT / ".local" / "mlflow" / "artifacts")
        return cls(uri, Path(root))


@dataclass(frozen=True)
class WeatherSettings:
    """Where the service area is and how far back a fresh warehouse loads its weather."""

    latitude: float = 45.76  # Lyon: the simulated company's area
    longitude: float = 4.85
    # A fresh warehouse loads this many days of observed weather (the call history is two years) ...
    backfill_days: int = 760
    # ... and the forecast runs issued over this many days, so backtests use what was known then.
    forecast_backfill_days: int = 400
    # Each run re-reads the archive's last days: the newest are published late, and revised.
    archive_lookback_days: int = 7
    # The archive lags by a few days; a newest observed day older than this is a failed load.
    archive_max_delay_days: int = 5

    @classmethod
    def from_env(cls) -> WeatherSettings:
        return cls(
            latitude=_env_float("WEATHER_LATITUDE", cls.latitude),
            longitude=_env_float("WEATHER_LONGITUDE", cls.longitude),
            backfill_days=int(_env_float("WEATHER_BACKFILL_DAYS", cls.backfill_days)),
            forecast_backfill_days=int(_env_float("WEATHER_FORECAST_BACKFILL_DAYS", cls.forecast_backfill_days)),
            archive_lookback_days=int(_env_float("WEATHER_ARCHIVE_LOOKBACK_DAYS", cls.archive_lookback_days)),
            archive_max_delay_days=int(_env_float("WEATHER_ARCHIVE_MAX_DELAY_DAYS", cls.archive_max_delay_days)),
        )


def demo_output_dir() -> Path:
    return Path(os.environ.get("DEMO_OUTPUT_DIR", PROJECT_ROOT / "build" / "demo"))
