"""Least privilege (plugins/cs_analytics/roles.py) on the real PostgreSQL: each flow's role does
its job, and every forbidden action is refused with InsufficientPrivilege — a loader writing a
mart or touching ml, ML reading raw PII or writing raw and marts, alerting writing marts or raw,
BI reading raw, meta, staging or ml, and any of them creating a schema or a table in `public`.
Then who may SELECT which customer e-mail and phone columns, and what the marts BI reads carry.

The roles are set up on the built dbt world, whose every object belongs to the owner (as in a
warehouse from before the roles): the setup upgrades it in place."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from psycopg import errors

from cs_analytics import roles
from cs_analytics.roles import ALERTING, LOADER, ML, TRANSFORMER, ensure_roles, role_passwords
from cs_analytics.transform.bi_access import BI_ROLE, ensure_bi_reader
from tests.integration.dbt_world import DbtWorld, shared_world

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dbt_world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> DbtWorld:
    return shared_world(tmp_path_factory, request)


class Conninfos(dict):
    """role -> conninfo; its repr leaves the passwords out of a failure's report."""

    def __repr__(self) -> str:
        return f"<conninfo of {', '.join(self)}>"


@pytest.fixture(scope="module")
def conninfo(dbt_world: DbtWorld) -> dict[str, str]:
    """Each role's conninfo on the world, after the setup ran twice (idempotent)."""
    passwords = role_passwords()  # from the AIRFLOW_CONN_WAREHOUSE_* connections scripts/run.sh sets
    bi_password = os.environ.get("BI_READER_PASSWORD")
    if not bi_password or not all(passwords.values()):
        pytest.fail("role passwords are not set: run the tests with `make test` (or scripts/run.sh pytest)")
    # The shared world may have been set up already by an earlier flow (Warehouse.for_flow): a
    # table the owner makes in raw_crm, as a warehouse from before the roles has, must be handed over.
    with dbt_world.warehouse.connect(autocommit=True) as conn:
        conn.execute("create table raw_crm.made_by_the_owner (id int)")
    first = ensure_roles(dbt_world.warehouse, passwords)
    assert first["handed_over"] > 0, "a raw table the owner made is handed over to the loader"
    assert ensure_roles(dbt_world.warehouse, passwords)["handed_over"] == 0
    owner = dbt_world.query("select tableowner from pg_tables where tablename = 'made_by_the_owner'")
    with dbt_world.warehouse.connect(autocommit=True) as conn:
        conn.execute("drop table raw_crm.made_by_the_owner")
    assert owner == [(LOADER,)]
    ensure_bi_reader(dbt_world.warehouse, bi_password)
    parts = urlsplit(dbt_world.warehouse_url)
    out = Conninfos(
        (
            role,
            psycopg.conninfo.make_conninfo(
                host=parts.hostname, port=parts.port, dbname=dbt_world.database, user=role, password=password
            ),
        )
        for role, password in {**passwords, BI_ROLE: bi_password}.items()
    )
    return out


def _refused(conninfo: str, statement: str) -> bool:
    """True when the privileges refuse `statement` (InsufficientPrivilege), rolled back either way;
    BI's read-only default is switched off first: it is a setting, not a barrier."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("set transaction read write")
        try:
            conn.execute(statement)
        except errors.InsufficientPrivilege:
            return True
        finally:
            conn.rollback()
    return False


def _runs(conninfo: str, statement: str) -> None:
    with psycopg.connect(conninfo) as conn:
        try:
            conn.execute(statement)
        finally:
            conn.rollback()


# --------------------------------------------------------------------------- the setup
def test_setup_upgrades_the_warehouse_in_place(dbt_world: DbtWorld, conninfo: dict[str, str]):
    owners = dict(
        dbt_world.query(
            "select n.nspname, string_agg(distinct pg_get_userbyid(c.relowner), ',') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'v') "
            "and n.nspname in ('raw_crm', 'raw_cti', 'staging', 'marts_build', 'snapshots') group by 1"
        )
    )
    assert owners == {
        "raw_crm": LOADER, "raw_cti": LOADER, "staging": TRANSFORMER, "marts_build": TRANSFORMER, "snapshots": TRANSFORMER
    }  # fmt: skip
    with dbt_world.warehouse.connect() as conn:
        assert roles.is_current(conn)
    attributes = dbt_world.query(
        "select rolname, rolsuper or rolcreatedb or rolcreaterole or rolreplication or rolbypassrls "
        "from pg_roles where rolname = any(%s)",
        ([*roles.FLOW_ROLES, BI_ROLE],),
    )
    assert sorted(attributes) == sorted((r, False) for r in [*roles.FLOW_ROLES, BI_ROLE])


# --------------------------------------------------------------------------- each role does its job
ALLOWED = {
    LOADER: [
        "insert into meta.watermarks (source, object, watermark, batch_id) values ('t', 't', now(), 't')",
        "insert into meta.quarantine (source, object, location, reason, batch_id) values ('t', 't', 't', 't', 't')",
        "create table raw_crm.roles_probe (a int)",
        "alter table raw_crm.contacts add column if not exists roles_probe int",
        "insert into raw_cti.calls select * from raw_cti.calls limit 0",
        "create index on raw_cti.calls (call_id)",
        "select count(*) from meta.schema_version",
        "create temporary table roles_probe (like raw_cti.calls) on commit drop",
    ],
    TRANSFORMER: [
        "select count(*) from raw_crm.contacts",
        "select count(*) from meta.cti_files",
        "select count(*) from ml.churn_scores",
        "create table marts_build.roles_probe as select 1 as a",
        "drop table marts_build.mart_kpi_daily",
        "create or replace view staging.roles_probe as select * from raw_crm.contacts",
        "create temporary table roles_probe (a int)",
    ],
    ML: [
        "select count(*) from marts.mart_kpi_daily",
        "select count(*) from marts.dim_customer",
        "select count(*) from staging.stg_erp__document_lines",
        "select count(*) from staging.stg_erp__items",
        "insert into ml.model_runs (model, as_of_date, metrics) values ('roles_probe', current_date, '{}')",
        "delete from ml.churn_scores",
        "create temporary table roles_probe (like ml.anomalies) on commit drop",
    ],
    ALERTING: [
        "select count(*) from marts.mart_kpi_daily",
        "select email, phone_e164 from marts_pii.customer_contact",
        "select count(*) from ml.churn_scores",
        "select is_email_opted_out from staging.stg_crm__contacts",
        "select count(*) from meta.dq_latest_warnings",
        "select count(*) from reference.customer_segments",
        "insert into meta.outbox (message_key, group_key, kind, channel, recipient, title, payload, max_attempts) "
        "values ('roles_probe', 'g', 'alert', 'slack', '#x', 't', '{}', 1)",
        "update meta.alert_state set times_raised = times_raised",
    ],
    BI_ROLE: ["select count(*) from marts.mart_kpi_daily", "select email_masked from marts.dim_customer"],
}


@pytest.mark.parametrize(("role", "statement"), [(r, s) for r, ss in ALLOWED.items() for s in ss])
def test_each_role_does_its_job(conninfo: dict[str, str], role: str, statement: str):
    _runs(conninfo[role], statement)


def test_the_flows_real_work_runs_as_their_roles(dbt_world: DbtWorld, conninfo: dict[str, str]):
    """Not only single statements: every alert rule's query as `alerting` (marts, ml, staging,
    intermediate, marts_pii joined), and the anomaly scoring as `ml` (marts and ERP staging read,
    a temporary table, ml.anomalies merged)."""
    from datetime import datetime, timedelta

    from cs_analytics.alerts.engine import RunContext, fetch_rows
    from cs_analytics.alerts.rules import load_rules
    from cs_analytics.config import AlertSettings
    from cs_analytics.ml import anomalies
    from cs_analytics.warehouse import Warehouse
    from tests.integration.alerting import NOTIFY
    from tests.integration.dbt_world import END_DATE, PARIS

    alerting = Warehouse(conninfo[ALERTING])
    reference = datetime.combine(END_DATE + timedelta(days=1), datetime.min.time(), PARIS)
    ctx = RunContext(END_DATE, reference, settings=AlertSettings(), notify=NOTIFY)
    counts = {r.name: len(fetch_rows(alerting, r, ctx)) for r in load_rules().rules if r.schedule != "event"}
    assert counts["tickets_waiting_over_24h"] > 0 and "churn_high" in counts and "quote_follow_ups" in counts
    ml = Warehouse(conninfo[ML])
    result = anomalies.score(ml, END_DATE)
    assert ml.query("select count(*) from ml.anomalies")[0][0] == result["anomalies"] > 0


# --------------------------------------------------------------------------- and nothing else
EVERYONE = [
    "create schema roles_probe",
    "create table public.roles_probe (a int)",
    "create table marts.roles_probe (a int)",
    "create table meta.roles_probe (a int)",
    "create table ml.roles_probe (a int)",
]
FORBIDDEN = {
    LOADER: [
        "insert into marts.mart_kpi_daily select * from marts.mart_kpi_daily limit 1",
        "delete from marts.dim_customer",
        "select count(*) from marts.dim_customer",
        "select count(*) from ml.churn_scores",
        "insert into ml.model_runs (model, as_of_date, metrics) values ('x', current_date, '{}')",
        "select count(*) from staging.stg_crm__contacts",
        "create table staging.roles_probe (a int)",
        "insert into meta.outbox select * from meta.outbox limit 1",
        "select count(*) from meta.dq_results",
    ],
    TRANSFORMER: [
        "select email from marts_pii.customer_contact",
        "select count(*) from marts.mart_kpi_daily",
        "insert into ml.model_runs (model, as_of_date, metrics) values ('x', current_date, '{}')",
        "insert into raw_crm.contacts select * from raw_crm.contacts limit 1",
        "create table raw_crm.roles_probe (a int)",
        "insert into meta.outbox select * from meta.outbox limit 1",
        "insert into meta.watermarks select * from meta.watermarks limit 1",
    ],
    ML: [
        "select payload->'properties'->>'email', payload->'properties'->>'phone' from raw_crm.contacts",
        "select count(*) from raw_erp.f_comptet",
        "select count(*) from staging.stg_crm__contacts",
        "select count(*) from snapshots.snap_customers",
        "select email from marts_pii.customer_contact",
        "insert into raw_crm.contacts select * from raw_crm.contacts limit 1",
        "insert into marts.mart_kpi_daily select * from marts.mart_kpi_daily limit 1",
        "drop table marts.dim_customer",
        "create table marts_build.roles_probe (a int)",
        "insert into meta.outbox select * from meta.outbox limit 1",
        "select count(*) from meta.load_batches",
        "drop table ml.churn_scores",
    ],
    ALERTING: [
        "insert into marts.mart_kpi_daily select * from marts.mart_kpi_daily limit 1",
        "update marts.dim_customer set customer_name = customer_name",
        "insert into raw_crm.contacts select * from raw_crm.contacts limit 1",
        "select count(*) from raw_crm.contacts",
        "select count(*) from snapshots.snap_customers",
        "insert into ml.churn_scores select * from ml.churn_scores limit 1",
        "delete from meta.load_batches",
        "delete from meta.dq_results",
        "create table staging.roles_probe (a int)",
        "create temporary table roles_probe (a int)",
    ],
    BI_ROLE: [
        "select count(*) from raw_crm.contacts",
        "select count(*) from meta.load_batches",
        "select count(*) from meta.outbox",
        "select count(*) from staging.stg_crm__contacts",
        "select count(*) from ml.churn_scores",
        "select email from marts_pii.customer_contact",
        "insert into marts.mart_kpi_daily select * from marts.mart_kpi_daily limit 1",
    ],
}


@pytest.mark.parametrize(
    ("role", "statement"),
    [(r, s) for r, ss in FORBIDDEN.items() for s in ss] + [(r, s) for r in FORBIDDEN for s in EVERYONE],
)
def test_every_forbidden_action_is_refused(conninfo: dict[str, str], role: str, statement: str):
    assert _refused(conninfo[role], statement), f"{role} may: {statement}"


# --------------------------------------------------------------------------- personal data
# (relation, column): where a customer's e-mail or phone is in clear
PII_COLUMNS = [
    ("raw_crm", "contacts", "payload"),
    ("raw_erp", "f_comptet", "ct_email"),
    ("staging", "stg_crm__contacts", "email"),
    ("snapshots", "snap_customers", "email"),
    ("snapshots", "snap_customers", "phone_e164"),
    ("marts_pii", "customer_contact", "email"),
    ("marts_pii", "customer_contact", "phone_e164"),
]
# who may read them: the loader writes them, dbt builds from them, alerting acts on them; the
# owner aside, no one else
MAY_READ = {
    "raw_crm": {LOADER, TRANSFORMER},
    "raw_erp": {LOADER, TRANSFORMER},
    "staging": {TRANSFORMER, ALERTING},
    "snapshots": {TRANSFORMER},
    "marts_pii": {ALERTING},
}


@pytest.mark.parametrize(("schema", "table", "column"), PII_COLUMNS)
def test_who_may_select_each_pii_column(
    dbt_world: DbtWorld, conninfo: dict[str, str], schema: str, table: str, column: str
):
    for role in [*roles.FLOW_ROLES, BI_ROLE]:
        granted = dbt_world.query(
            "select has_schema_privilege(%(r)s, %(s)s, 'USAGE') "
            "and has_column_privilege(%(r)s, %(rel)s, %(c)s, 'SELECT')",
            {"r": role, "s": schema, "rel": f"{schema}.{table}", "c": column},
        )[0][0]
        expected = role in MAY_READ[schema]
        assert granted == expected, f"{role} SELECT {schema}.{table}.{column}: {granted}"
        statement = f"select {column} from {schema}.{table} limit 1"
        if expected:
            _runs(conninfo[role], statement)
        else:
            assert _refused(conninfo[role], statement), f"{role} read {schema}.{table}.{column}"


def test_the_marts_bi_reads_carry_no_customer_email_or_phone(dbt_world: DbtWorld, conninfo: dict[str, str]):
    clear = dbt_world.query("select email, phone_e164 from snapshots.snap_customers")
    emails = {e.lower() for e, _ in clear if e}
    phones = {p for _, p in clear if p}
    assert len(emails) > 20 and len(phones) > 20
    # no column of a mart is named like a clear contact, staff dimensions aside (their logins)
    named = dbt_world.query(
        "select table_name, column_name from information_schema.columns where table_schema = 'marts' "
        "and column_name in ('email', 'phone_e164', 'phone', 'mobile_phone') "
        "and table_name not in ('dim_technician', 'dim_agent') order by 1, 2"
    )
    assert named == []
    # and no value BI can read in the customer-facing marts is one of theirs
    relations = ["dim_customer", "dim_customer_contact", "mart_quote_follow_ups", "pres_quotes_to_follow_up",
                 "pres_technician_appointments"]  # fmt: skip
    seen = 0
    with psycopg.connect(conninfo[BI_ROLE], autocommit=True) as conn:
        for relation in relations:
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' "
                    "and table_name = %s and data_type = 'text'",
                    (relation,),
                )
            ]
            assert cols, relation
            for row in conn.execute(f"select {', '.join(cols)} from marts.{relation}"):  # noqa: S608 - catalog names
                for value in row:
                    seen += 1
                    if value:
                        assert value.lower() not in emails and value not in phones, f"marts.{relation}: {value}"
        masked = conn.execute("select email_masked, phone_masked from marts.dim_customer_contact").fetchall()
    assert seen > 1000
    assert any(e and re.fullmatch(r".\*\*\*@[^@]+", e) for e, _ in masked)
    assert any(p and re.fullmatch(r"0\d \*\* \*\* \*\* \d\d", p) for _, p in masked)


def test_the_delivery_log_bi_reads_masks_a_customers_address(dbt_world: DbtWorld, conninfo: dict[str, str]):
    dbt_world.warehouse.execute(
        "insert into meta.outbox (message_key, group_key, kind, channel, recipient, title, payload, max_attempts) "
        "values ('roles_pii_probe', 'g', 'customer_email', 'email', 'jeanne.client@exemple.fr', 't', '{}', 1)"
    )
    try:
        with psycopg.connect(conninfo[BI_ROLE], autocommit=True) as conn:
            shown = conn.execute(
                "select recipient from marts.alert_delivery_log where alert_key = 'g' and kind = 'customer_email'"
            ).fetchall()
        assert shown == [("j***@exemple.fr",)]
    finally:
        dbt_world.warehouse.execute("delete from meta.outbox where message_key = 'roles_pii_probe'")


def test_the_hash_joins_the_clear_values(dbt_world: DbtWorld):
    """The marts' hash is the clear value's (alerting may match on it without reading the value)."""
    joined = dbt_world.query(
        "select count(*), count(*) filter (where d.email_sha256 = encode(sha256(convert_to(lower(trim(p.email)), "
        "'UTF8')), 'hex')) from marts.dim_customer_contact d join marts_pii.customer_contact p using (customer_id) "
        "where p.email is not null"
    )[0]
    assert joined[0] > 20 and joined[0] == joined[1]


def test_dbt_grants_ml_the_staging_views_the_setup_does():
    """The ERP staging views ML reads are named twice (dbt re-grants them each build): the same."""
    doc = yaml.safe_load((REPO / "dbt_project/models/staging/erp/_erp__models.yml").read_text())
    granted = {m["name"] for m in doc["models"] if "grant_select_to(['ml'])" in str(m.get("config", {}))}
    assert granted == set(roles.ML_STAGING)


# --------------------------------------------------------------------------- each flow, its connection
def test_a_flow_connects_as_its_role_on_a_fresh_warehouse(warehouse, monkeypatch: pytest.MonkeyPatch):
    """A fresh database (the stack's first run, a test's scratch one) is set up by the owner on the
    first flow's call; the role connections give only a login: the database is the owner's."""
    from cs_analytics.warehouse import Warehouse

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.dsn.replace("postgresql://", "postgres://", 1))
    monkeypatch.delenv("WAREHOUSE_SINGLE_ROLE", raising=False)
    database = warehouse.query("select current_database()")[0][0]
    for flow in roles.FLOW_ROLES:
        assert Warehouse.for_flow(flow).query("select current_user, current_database()") == [(flow, database)]
    with warehouse.connect() as conn:
        assert roles.is_current(conn)
    # a raw table the owner created (a single-role run) is handed to the loader on the next call
    warehouse.execute("create table raw_crm.owner_made (a int)")
    loader = Warehouse.for_flow(LOADER)
    loader.execute("alter table raw_crm.owner_made add column b int")
    # and a dbt relation the owner built (dbt on the command line) to the transformer
    warehouse.execute("create view staging.owner_made as select 1 as a")
    Warehouse.for_flow(TRANSFORMER).execute("create or replace view staging.owner_made as select 2 as a")
    # the loaders' own DDL runs as the loader once the schemas exist
    from cs_analytics.warehouse import create_schema_if_missing

    loader.execute(create_schema_if_missing("raw_crm"))


def test_single_role_is_explicit(warehouse, monkeypatch: pytest.MonkeyPatch):
    from cs_analytics.warehouse import Warehouse

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.dsn.replace("postgresql://", "postgres://", 1))
    owner = warehouse.query("select current_user")[0][0]
    monkeypatch.setenv("WAREHOUSE_SINGLE_ROLE", "true")
    assert Warehouse.for_flow(ML).query("select current_user")[0][0] == owner
    monkeypatch.setenv("WAREHOUSE_SINGLE_ROLE", "false")
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE_ML")
    with pytest.raises(LookupError, match="AIRFLOW_CONN_WAREHOUSE_ML"):
        Warehouse.for_flow(ML)
