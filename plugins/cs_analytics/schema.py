"""The platform's own tables: every `meta.*` and `ml.*` object, created in one place.

`ensure_schema(warehouse)` is what every flow calls before it writes there. It is
idempotent and cheap once the schema is in place: it then only reads the catalog, so it
takes no lock that a running load or a BI query would wait on. Otherwise it applies the
whole DDL under an advisory lock (concurrent first runs queue, then find the work done).

The raw tables are not here: each loader owns its own (`ingestion/*.py`), and the quality
gate's `dq` schema of helper functions lives with its SQL (`quality/sql.py`). Loaders create
them inside `ddl_transaction(warehouse)`, under the same lock: `create ... if not exists` is not
safe against a concurrent create of the same name (two first runs fail on the catalogue's unique
index), so the second run waits and finds the table there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

DDL = """
create schema if not exists meta;
create schema if not exists ml;

-- ============================================================================ ingestion
-- One row per (source, object): the highest source timestamp loaded. Advanced only in
-- the transaction that loads the rows, so a failed run never skips data.
create table if not exists meta.watermarks (
    source      text not null,
    object      text not null,
    watermark   timestamptz,
    batch_id    text not null,
    updated_at  timestamptz not null default now(),
    primary key (source, object)
);

-- One row per load task attempt that committed.
create table if not exists meta.load_batches (
    batch_id          text primary key,
    source            text not null,
    object            text not null,
    dag_id            text,
    run_id            text,
    interval_start    timestamptz,
    interval_end      timestamptz,
    window_start      timestamptz,
    window_end        timestamptz,
    rows_read         integer not null default 0,
    rows_inserted     integer not null default 0,
    rows_updated      integer not null default 0,
    rows_unchanged    integer not null default 0,
    rows_quarantined  integer not null default 0,
    started_at        timestamptz not null,
    finished_at       timestamptz,
    detail            jsonb not null default '{}'
);

-- What each load's source said it had (API total, count query, file lines) against what was
-- loaded plus quarantined; written apart from the load's transaction, so a refused load keeps it.
create table if not exists meta.source_reconciliation (
    batch_id      text not null,
    source        text not null,
    object        text not null,
    scope         text not null,          -- what was counted: the window, a file name
    source_count  bigint not null,
    loaded        bigint not null,
    quarantined   bigint not null,
    rule          text not null,          -- 'equal', or 'at_least' where the source may change while read
    matches       boolean not null,
    checked_at    timestamptz not null default now(),
    primary key (batch_id, scope)
);

-- Rows that could not be loaded, with the reason and where they came from. Keyed on the
-- location, so re-running a load never duplicates an entry.
create table if not exists meta.quarantine (
    quarantine_id   bigserial primary key,
    source          text not null,
    object          text not null,
    location        text not null,
    reason          text not null,
    raw_record      text,
    batch_id        text not null,
    first_seen_at   timestamptz not null default now(),
    last_seen_at    timestamptz not null default now(),
    -- set when the same record later loads (fixed at the source, or superseded by a re-delivery)
    resolved_at     timestamptz,
    resolved_by     text,
    unique (source, object, location)
);
-- Warehouses created before these columns existed.
alter table meta.quarantine add column if not exists resolved_at timestamptz;
alter table meta.quarantine add column if not exists resolved_by text;

-- Every CDR file loaded: a delivery is its name and content hash, processed once. Its content
-- replaced its day; rows_before is what the day held then (null for the day's first file).
create table if not exists meta.cti_files (
    sha256            text not null,
    file_name         text not null,
    file_date         date,
    size_bytes        bigint not null,
    encoding          text,              -- utf-8, utf-8-sig (BOM) or windows-1252
    encoding_errors   integer not null default 0,
    rows_read         integer,
    rows_loaded       integer not null default 0,
    rows_quarantined  integer not null default 0,
    rows_before       integer,
    accepted_by       text,              -- an operator accepted it (held, or over the quarantine limit)
    batch_id          text not null,
    loaded_at         timestamptz not null default now(),
    primary key (file_name, sha256)
);
-- Warehouses created when a file was keyed by its hash alone (one content, one day).
alter table meta.cti_files add column if not exists encoding text;
alter table meta.cti_files add column if not exists rows_read integer;
alter table meta.cti_files add column if not exists rows_before integer;
alter table meta.cti_files add column if not exists accepted_by text;
alter table if exists meta.cti_duplicate_deliveries drop constraint if exists cti_duplicate_deliveries_sha256_fkey;
do $$
begin
    if (select array_agg(a.attname::text) from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
        where i.indrelid = 'meta.cti_files'::regclass and i.indisprimary) = array['sha256'] then
        alter table meta.cti_files drop constraint cti_files_pkey, add primary key (file_name, sha256);
    end if;
end $$;

-- Deliveries whose content is what their day already holds (same day and hash, any name).
create table if not exists meta.cti_duplicate_deliveries (
    file_name     text primary key,
    sha256        text not null,
    file_date     date,
    original_name text not null,
    batch_id      text not null,
    seen_at       timestamptz not null default now()
);
alter table meta.cti_duplicate_deliveries add column if not exists file_date date;

-- CDR files held in quarantine as a whole, not loaded: a re-delivery that would drop more of
-- its day than CTI_REPLACEMENT_MAX_DROP allows, or a file that cannot load at all (empty, no
-- header...). The day keeps what it had until the file is accepted (`accepted`, then `loaded`
-- by the next run) or a later delivery of the day loads (`superseded`).
create table if not exists meta.cti_held_files (
    file_name     text not null,
    sha256        text not null,
    file_date     date,
    size_bytes    bigint not null,
    reason        text not null,
    rows_before   integer,          -- rows its day held when it was held
    rows_after    integer,          -- rows it would have left (null: it cannot be read)
    status        text not null default 'held' check (status in ('held', 'accepted', 'loaded', 'superseded')),
    batch_id      text not null,    -- the run that held it
    held_at       timestamptz not null default now(),
    accepted_by   text,
    accepted_at   timestamptz,
    resolved_at   timestamptz,
    primary key (file_name, sha256)
);

-- ============================================================================ quality gate
-- One row per gate run.
create table if not exists meta.dq_runs (
    run_id             text primary key,
    started_at         timestamptz not null,
    finished_at        timestamptz,
    as_of              timestamptz not null,
    validate_since     timestamptz not null,   -- rows loaded outside a recorded batch: validated from here on
    passed             boolean,                -- null while running (or if the gate crashed)
    suites             integer,
    expectations       integer,
    critical_failures  integer,
    warnings           integer,
    quarantined_rows   integer,
    data_docs          text,
    seconds            double precision
);

-- The load batches each run found to validate (new_rows suites): a batch is validated once a run
-- that listed it passed, as long as its record is unchanged (a retried load finishes it again).
create table if not exists meta.dq_run_batches (
    run_id       text not null,
    batch_id     text not null,
    finished_at  timestamptz,
    primary key (run_id, batch_id)
);

-- The history BI charts: one row per expectation per run.
create table if not exists meta.dq_results (
    run_id              text not null,
    validated_at        timestamptz not null default now(),
    suite               text not null,
    table_name          text not null,
    expectation         text not null,
    column_name         text,
    kwargs              jsonb not null,
    severity            text not null check (severity in ('critical', 'warning')),
    success             boolean not null,
    observed_value      text,
    unexpected_count    bigint,
    unexpected_percent  double precision,
    primary key (run_id, suite, expectation, kwargs)
);
alter table meta.dq_results add column if not exists observed_number double precision;
alter table meta.dq_results add column if not exists element_count bigint;
alter table meta.dq_results add column if not exists exception text;
alter table meta.dq_results add column if not exists quarantined_rows integer;
alter table meta.dq_results add column if not exists quarantine_cap integer;
alter table meta.dq_results add column if not exists data_docs text;
create index if not exists dq_results_validated_at on meta.dq_results (validated_at);

-- Rows that failed a critical row-level expectation: copied here (never deleted from the
-- raw table, never dropped silently), at most `cap` rows per expectation and run.
create table if not exists meta.dq_quarantine (
    quarantine_id   bigserial primary key,
    run_id          text not null,
    suite           text not null,
    expectation     text not null,
    kwargs          jsonb not null,
    table_name      text not null,
    row_key         text,
    row_data        jsonb not null,
    quarantined_at  timestamptz not null default now()
);
create index if not exists dq_quarantine_run on meta.dq_quarantine (run_id, suite);

-- Failed warnings of the latest run (the daily report and BI read this).
create or replace view meta.dq_latest_warnings as
select r.run_id, r.validated_at, r.suite, r.table_name, r.expectation, r.column_name, r.kwargs,
       r.observed_value, r.unexpected_count, r.unexpected_percent, r.data_docs
from meta.dq_results r
where r.run_id = (select run_id from meta.dq_runs where finished_at is not null
                  order by started_at desc limit 1)
  and r.severity = 'warning' and not r.success;

-- Sources read through a change feed (Microsoft Graph delta query): the link to resume from.
-- Replaced in the transaction that loads the changes it covers, like a watermark.
create table if not exists meta.sync_cursors (
    source      text not null,
    object      text not null,
    cursor      text,
    batch_id    text not null,
    updated_at  timestamptz not null default now(),
    primary key (source, object)
);

-- ============================================================================ ml
create table if not exists ml.call_volume_forecast (
    forecast_date  date not null,      -- the day the forecast was made for (the run's data interval end)
    target_date    date not null,
    horizon_days   integer not null,
    yhat           double precision not null,
    yhat_lower     double precision not null,
    yhat_upper     double precision not null,
    model          text not null,
    trained_at     timestamptz not null default now(),
    primary key (forecast_date, target_date)
);
-- The temperature the forecast assumed (forecast issued on forecast_date; null past its reach).
alter table ml.call_volume_forecast add column if not exists temperature_mean_c double precision;
alter table ml.call_volume_forecast add column if not exists weather_lead_days integer;
-- Tomorrow's rounds (spec 2.3), planned the evening before: one row per visit in visiting order.
create table if not exists ml.technician_routes (
    route_date            date not null,          -- the day planned
    planned_on            date not null,          -- the as-of day: planned the evening before
    technician_id         text not null,          -- who the plan sends (may differ from the office's)
    position              integer not null,       -- 1 = first visit of the day
    intervention_id       text not null,
    office_technician_id  text not null,
    planned_arrival       timestamptz not null,   -- inside the booked window unless none could be kept
    window_start          timestamptz not null,
    window_end            timestamptz not null,
    duration_minutes      integer not null,
    km_from_previous      double precision not null,  -- from home for the first visit
    minutes_from_previous double precision not null,  -- the technician's "trajet"
    km_to_home            double precision not null,  -- after the last visit, else 0
    planner               text not null,
    planned_at            timestamptz not null default now(),
    primary key (route_date, intervention_id),
    unique (route_date, technician_id, position)
);

create table if not exists ml.model_runs (
    model          text not null,
    as_of_date     date not null,
    metrics        jsonb not null,
    run_id         text,
    trained_at     timestamptz not null default now(),
    primary key (model, as_of_date)
);

-- Churn risk per customer and as-of day (spec 2.2): score 0-100, band, top three reasons in French.
create table if not exists ml.churn_scores (
    as_of_date       date not null,
    customer_id      text not null,
    score            integer not null check (score between 0 and 100),
    probability      double precision not null,
    band             text not null,          -- élevé (> 70) | moyen (> 50) | faible
    reasons          text[] not null,
    reason_features  text[] not null,
    model_version    integer not null,
    scored_at        timestamptz not null default now(),
    primary key (as_of_date, customer_id)
);
-- The retention campaign list (spec 2.2: score above 50; above 70 Claire is alerted as well).
create table if not exists ml.retention_campaign (
    as_of_date     date not null,
    customer_id    text not null,
    score          integer not null,
    band           text not null,
    action         text not null,
    reasons        text[] not null,
    model_version  integer not null,
    primary key (as_of_date, customer_id)
);
-- RFM segment per customer and as-of day (004), with the values behind it.
create table if not exists ml.customer_segments (
    as_of_date     date not null,
    customer_id    text not null,
    segment        text not null,
    cluster        integer not null,
    recency_days   integer not null,
    frequency      integer not null,
    monetary_eur   numeric(14, 2) not null,
    model_version  integer not null,
    primary key (as_of_date, customer_id)
);
-- Abnormal days and ERP documents; one row per (kind, reference), kept up to date by every run.
create table if not exists ml.anomalies (
    kind               text not null,
    reference          text not null,
    entity             text not null,
    anomaly_date       date not null,
    metric             text not null,
    value              double precision,
    expected           double precision,
    score              double precision not null,
    detectors          text[] not null,
    explanation        text not null,
    first_detected_on  date not null,
    last_detected_on   date not null,
    primary key (kind, reference)
);
-- Population stability index of each model feature against the training window, per scoring run.
create table if not exists ml.feature_drift (
    model          text not null,
    model_version  integer not null,
    as_of_date     date not null,
    feature        text not null,
    psi            double precision not null,
    is_warning     boolean not null,
    rows_scored    integer not null,
    computed_at    timestamptz not null default now(),
    primary key (model, as_of_date, feature)
);

-- ============================================================================ alerts
-- The outbox (alerts/outbox.py): every message the platform sends (an alert to Slack or by
-- e-mail, a CRM task, a CRM list change, a report, a customer e-mail) is written here first
-- under a stable key, in the transaction that decides to send it, then delivered from here
-- with retries. An outage delays a message and never loses it; a re-run finds the key and
-- adds nothing. One row per (message, channel, recipient).
create table if not exists meta.outbox (
    message_id        bigserial primary key,
    message_key       text not null unique,
    group_key         text not null,          -- the alert or report the message belongs to
    kind              text not null,          -- alert | report | customer_email | crm_task | crm_list | pipeline
    channel           text not null check (channel in ('email', 'slack', 'crm_task', 'crm_list')),
    recipient         text not null,          -- address, Slack channel, CRM owner id or list name
    rule              text,
    severity          text check (severity in ('critical', 'important', 'info')),
    audience          text,
    entity            text,
    title             text not null,
    payload           jsonb not null,         -- the rendered message (alerts/messages.py)
    status            text not null default 'pending'
                      check (status in ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    attempts          integer not null default 0,
    max_attempts      integer not null,
    next_attempt_at   timestamptz not null default now(),
    lease_until       timestamptz,            -- a sender holds a 'sending' row until then
    last_error        text,
    external_id       text,                   -- Slack ts, e-mail Message-ID, HubSpot task id
    created_at        timestamptz not null default now(),
    first_attempt_at  timestamptz,
    sent_at           timestamptz,
    dag_id            text,
    run_id            text
);
create index if not exists outbox_due on meta.outbox (next_attempt_at) where status in ('pending', 'sending');
create index if not exists outbox_group on meta.outbox (group_key);

-- Pictures a message carries: inline images of an e-mail (cid), files posted with a Slack message.
create table if not exists meta.outbox_images (
    message_id  bigint not null references meta.outbox (message_id) on delete cascade,
    cid         text not null,
    filename    text not null,
    mime_type   text not null,
    alt         text not null,
    content     bytea not null,
    primary key (message_id, cid)
);

-- Every delivery attempt, with its outcome: the delivery log's detail.
create table if not exists meta.outbox_attempts (
    message_id   bigint not null references meta.outbox (message_id) on delete cascade,
    attempt      integer not null,
    started_at   timestamptz not null,
    finished_at  timestamptz not null,
    outcome      text not null check (outcome in ('sent', 'retry', 'failed', 'suppressed')),
    error        text,
    primary key (message_id, attempt)
);

-- The last alert raised per (rule, entity): cooldown and escalation (alerts/policy.py). Written
-- in the same transaction as the outbox rows it decided.
create table if not exists meta.alert_state (
    rule             text not null,
    entity           text not null,
    alert_key        text not null,
    severity         text not null,
    level            integer not null,       -- 0 = as configured, 1 = escalated
    value            double precision,       -- the measured value when raised (worsening is judged on it)
    first_raised_at  timestamptz not null,
    last_raised_at   timestamptz not null,
    cooldown_until   timestamptz not null,
    times_raised     integer not null default 1,
    primary key (rule, entity)
);

-- The delivery log BI reads (bi_reader reads the marts schema only; the view runs with its
-- owner's rights, so meta itself stays closed): what, to whom, when, status, attempts, error.
-- A customer's address is masked as the marts mask it (dbt_project/macros/pii.sql).
create schema if not exists marts;
create or replace view marts.alert_delivery_log as
select
    o.message_id,
    o.group_key as alert_key,
    o.kind,
    o.rule,
    o.severity,
    o.audience,
    o.channel,
    (case when o.kind = 'customer_email' and o.recipient like '%_@_%'
        then left(o.recipient, 1) || '***@' || split_part(o.recipient, '@', 2)
        else o.recipient end)::text as recipient,
    o.title,
    o.status,
    o.attempts,
    o.last_error,
    o.external_id,
    o.created_at,
    o.first_attempt_at,
    o.sent_at,
    extract(epoch from o.sent_at - o.created_at)::double precision as seconds_to_deliver,
    o.dag_id,
    o.run_id
from meta.outbox as o;

-- ============================================================================ bookkeeping
-- Which version of this DDL the warehouse has (ensure_schema's fast path).
create table if not exists meta.schema_version (
    name         text primary key,
    ddl_sha256   text not null,
    applied_at   timestamptz not null default now()
);
"""

DDL_SHA256 = hashlib.sha256(DDL.encode()).hexdigest()
# Every relation the DDL creates: one of them missing (dropped by hand, a test) means apply again.
RELATIONS = tuple(re.findall(r"^create (?:table if not exists|or replace view) (\w+\.\w+)", DDL, re.M))
_LOCK = "select pg_advisory_xact_lock(hashtext('cs_analytics.schema'))"


def _up_to_date(conn) -> bool:
    # from the catalog, not to_regclass: a flow's role need not have USAGE on every schema
    present = conn.execute(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname || '.' || c.relname = any(%s)",
        (list(RELATIONS),),
    ).fetchone()[0]
    if present < len(RELATIONS):
        return False
    row = conn.execute("select ddl_sha256 from meta.schema_version where name = 'cs_analytics'").fetchone()
    return row is not None and row[0] == DDL_SHA256


def ensure_schema(warehouse) -> None:
    """Create or upgrade every meta.* and ml.* object (idempotent; see the module docstring)."""
    with warehouse.connect(autocommit=True) as conn:
        if _up_to_date(conn):
            return
        with conn.transaction():
            conn.execute(_LOCK)  # concurrent first runs: one applies, the others find it done
            if _up_to_date(conn):
                return
            try:
                conn.execute(DDL)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise PermissionError(
                    "the warehouse's meta/ml tables are missing or older than this code, and only the "
                    "warehouse's owner may change them: run `python -m cs_analytics.roles` (or any flow "
                    f"task, which sets the warehouse up as the owner first): {exc}"
                ) from exc
            conn.execute(
                "insert into meta.schema_version (name, ddl_sha256) values ('cs_analytics', %s) "
                "on conflict (name) do update set ddl_sha256 = excluded.ddl_sha256, applied_at = now()",
                (DDL_SHA256,),
            )


@contextmanager
def ddl_transaction(warehouse) -> Iterator[Any]:
    """A transaction holding the schema lock, for a loader's own DDL (see the module docstring)."""
    with warehouse.transaction() as conn:
        conn.execute(_LOCK)
        yield conn
