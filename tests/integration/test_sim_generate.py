"""`generate` end to end on a small world: stores, CDR files and their delivery, the ERP schema
(a throw-away schema in ERP_DATABASE_URL) and the ground truth, read back from disk."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from simulators.cti import PARIS, deliver
from simulators.export import Destinations, generate
from simulators.export.crm import CLOSED_BEFORE_CREATED_RATE, PROPERTIES
from simulators.export.cti import HEADER
from simulators.world import WorldConfig

pytestmark = pytest.mark.integration

CONFIG = WorldConfig(end_date=date(2025, 3, 31), seed=7, scale=0.3, years=1)


@dataclass
class Generated:
    destinations: Destinations
    log: list[str]

    @property
    def data(self) -> Path:
        return self.destinations.data_dir

    @property
    def truth(self) -> Path:
        return self.destinations.ground_truth_dir

    @property
    def landing(self) -> Path:
        return self.destinations.landing_dir

    def truth_csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.truth / name, dtype=str, keep_default_na=False)


def _erp_url() -> str:
    url = os.environ.get("ERP_DATABASE_URL")
    if not url:
        pytest.fail("ERP_DATABASE_URL is not set: run the tests with `make test` (or scripts/run.sh pytest)")
    return url


def _generate(root: Path, schema: str) -> Generated:
    destinations = Destinations(
        data_dir=root / "sim", ground_truth_dir=root / "truth", landing_dir=root / "landing", database_url=_erp_url(),
        erp_schema=schema,
    )  # fmt: skip
    log: list[str] = []
    generate(CONFIG, destinations, log=log.append)
    return Generated(destinations, log)


def _drop_schema(schema: str) -> None:
    with psycopg.connect(_erp_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    schema = f"sim_test_{uuid.uuid4().hex[:10]}"
    try:
        yield _generate(tmp_path_factory.mktemp("first"), schema)
    finally:
        _drop_schema(schema)


def cdr_files(g: Generated) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((g.data / "cti_outbox").glob("cdr_*.csv"))}


def daily_rows(g: Generated) -> pd.DataFrame:
    """Rows per day counted from the CDR files on disk (a re-delivery, sorted after its original,
    counts: a cut file's is complete), with the day's truth."""
    counts = {name[4:12]: len(content.splitlines()) - 1 for name, content in cdr_files(g).items()}
    truth = g.truth_csv("daily_calls.csv")
    truth = truth[truth["is_future"] == "False"].copy()
    truth["rows"] = truth["date"].str.replace("-", "").map(counts)
    truth["weekday_number"] = pd.to_datetime(truth["date"]).dt.day_of_week
    truth["month"] = pd.to_datetime(truth["date"]).dt.month
    return truth


# --------------------------------------------------------------------------- the run itself
def test_generate_prints_one_line_per_stage(generated: Generated) -> None:
    stages = [line.split()[1] for line in generated.log if line.startswith("[generate] ") and "done in" not in line]
    assert stages == [
        "calendar",
        "people",
        "behaviour",
        "calls",
        "tickets",
        "field",
        "ledger",
        "general",
        "portal",
        "mailbox",
        "office",
        "crm",
        "app",
        "ga4",
        "mailbox",
        "cti",
        "cti",
        "erp",
        "ground",
    ]
    calls_line = next(line for line in generated.log if line.startswith("[generate] calls"))
    assert re.fullmatch(r"\[generate\] calls\s+[\d,]+ rows\s+\d+\.\ds", calls_line)


def test_same_inputs_give_byte_identical_outputs(generated: Generated, tmp_path: Path) -> None:
    schema = f"sim_test_{uuid.uuid4().hex[:10]}"
    try:
        again = _generate(tmp_path, schema)
        for first_dir, second_dir in (
            (generated.data, again.data),
            (generated.truth, again.truth),
            (generated.landing, again.landing),
        ):
            first = {p.relative_to(first_dir): p.read_bytes() for p in first_dir.rglob("*") if p.is_file()}
            second = {p.relative_to(second_dir): p.read_bytes() for p in second_dir.rglob("*") if p.is_file()}
            assert first.keys() == second.keys()
            assert [k for k in first if first[k] != second[k]] == []
        with psycopg.connect(_erp_url()) as conn:
            for table in (
                "F_COMPTET",
                "F_ARTICLE",
                "F_DOCENTETE",
                "F_DOCLIGNE",
                "F_ECRITUREC",
                "F_ECRITUREA",
                "F_JMOUV",
            ):
                rows = [
                    conn.execute(
                        sql.SQL("select * from {}.{} order by {}").format(
                            sql.Identifier(s), sql.Identifier(table), sql.Identifier("cbMarq")
                        )
                    ).fetchall()
                    for s in (generated.destinations.erp_schema, schema)
                ]
                assert rows[0] == rows[1] and rows[0], table
    finally:
        _drop_schema(schema)


def test_manifest_records_the_inputs_and_counts(generated: Generated) -> None:
    manifest = json.loads((generated.truth / "manifest.json").read_text())
    assert (manifest["seed"], manifest["scale"], manifest["years"]) == (7, 0.3, 1)
    assert manifest["end_date"] == "2025-03-31" and manifest["start_date"] == "2024-03-31"
    counts = manifest["row_counts"]
    assert counts["crm"]["contacts"] > 80 and counts["crm"]["tickets"] > 3000
    assert counts["erp"]["F_DOCENTETE"] > 500 and counts["cti"]["files"] == 366


# --------------------------------------------------------------------------- CTI
def test_call_volume_patterns_in_the_cdr_files(generated: Generated) -> None:
    days = daily_rows(generated)
    assert (days["rows"] == days["actual_calls"].astype(int)).all()
    assert 0.85 * 45 * CONFIG.scale < days["rows"].mean() < 1.15 * 45 * CONFIG.scale
    by_weekday = days.groupby("weekday_number")["rows"].mean()
    assert by_weekday[0] > 3 * by_weekday[6]

    ordinary = days[(days["is_holiday"] == "False") & (days["is_spike"] == "False") & (days["weather_event"] == "")]
    usual = ordinary.groupby("weekday_number")["rows"].mean()
    holidays = days[(days["is_holiday"] == "True") & (days["weekday_number"] < 5)]
    assert len(holidays) >= 5
    assert (holidays["rows"] < 0.5 * holidays["weekday_number"].map(usual)).all()

    cold = days[(days["weather_event"] == "cold_wave") & (days["weekday_number"] < 5) & (days["is_holiday"] == "False")]
    comparable = ordinary[(ordinary["weekday_number"] < 5) & ordinary["month"].isin(cold["month"])]
    assert len(cold) >= 4
    assert cold["rows"].mean() > 1.15 * comparable["rows"].mean()

    spikes = generated.truth_csv("anomalies.csv").query("kind == 'call_spike_day'")
    assert set(spikes["date"]) == set(days.loc[days["is_spike"] == "True", "date"]) and len(spikes) >= 1
    spike_days = days[days["date"].isin(spikes["date"])]
    assert (spike_days["rows"] > 1.5 * spike_days["weekday_number"].map(usual)).all()


def test_daily_calls_truth_runs_sixty_days_past_the_end(generated: Generated) -> None:
    truth = generated.truth_csv("daily_calls.csv")
    assert truth["date"].iloc[-1] == (CONFIG.end_date + timedelta(days=60)).isoformat()
    future = truth[truth["is_future"] == "True"]
    assert len(future) == 60 and (future["actual_calls"] == "").all()
    assert (future["expected_calls"].astype(float) >= 0).all()


def test_cdr_files_carry_the_planted_defects_and_nothing_else(generated: Generated) -> None:
    defects = generated.truth_csv("cti_defects.csv")
    files = cdr_files(generated)
    kinds = set(defects["kind"])
    assert {"windows1252_file", "extra_column", "late_file", "redelivery", "truncated_file"} <= kinds
    assert {k for k in kinds if k.startswith("malformed")} == {
        "malformed_missing_field", "malformed_non_numeric_seconds", "malformed_impossible_date",
    }  # fmt: skip

    windows1252 = set(defects.loc[defects["kind"] == "windows1252_file", "file"])
    assert 1 <= len(windows1252) <= 2
    ((cut_file, cut_line),) = defects.loc[defects["kind"] == "truncated_file", ["file", "line"]].to_numpy()
    complete = files[cut_file.replace(".csv", "_resend.csv")]
    assert complete.startswith(files[cut_file]) and not files[cut_file].endswith(b"\n")
    assert len(files[cut_file].splitlines()) == int(cut_line) < len(complete.splitlines())
    found_bad_lines = set()
    for name, content in files.items():
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            assert name in windows1252 or name.replace("_resend", "") in windows1252
            text = content.decode("cp1252")  # valid data: every byte a Windows-1252 character
            assert re.search("[éèëï]", text)
        lines = text.splitlines()
        header = lines[0].split(";")
        assert header[:12] == list(HEADER)
        for number, line in enumerate(lines[1:], start=2):
            fields = line.split(";")
            broken = (
                len(fields) != len(header)
                or not (fields[7].isdigit() and fields[8].isdigit())
                or not _valid_time(fields[1])
            )
            if broken and "_resend" not in name and name != cut_file:
                found_bad_lines.add((name, str(number)))
    malformed = defects[defects["kind"].str.startswith("malformed")]
    assert found_bad_lines == set(zip(malformed["file"], malformed["line"], strict=True))
    extra = defects.loc[defects["kind"] == "extra_column", "file"].tolist()
    assert len(extra) == 1 and files[extra[0]].split(b"\n", 1)[0].endswith(b";recording_url")


def _valid_time(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def test_night_line_rows_through_the_autumn_change_are_chronological(generated: Generated) -> None:
    lines = cdr_files(generated)["cdr_20241027.csv"].decode("utf-8").splitlines()[1:]
    starts = [line.split(";")[1] for line in lines]
    assert len([s for s in starts if s.startswith("2024-10-27 02:")]) >= 6
    # Rows are in real-time order, so the wall clock goes back exactly once, inside the repeated hour.
    back = [i for i in range(1, len(starts)) if starts[i] < starts[i - 1]]
    assert len(back) == 1 and starts[back[0] - 1][:14] == starts[back[0]][:14] == "2024-10-27 02:"
    for content in cdr_files(generated).values():
        assert b"2025-03-30 02:" not in content  # the spring gap does not exist


def test_deliveries_follow_the_schedule(generated: Generated, tmp_path: Path) -> None:
    with open(generated.data / "cti_deliveries.csv", newline="") as handle:
        schedule = list(csv.DictReader(handle))
    assert {row["kind"] for row in schedule} == {"on_time", "late", "redelivery"}
    cutoff = datetime.combine(CONFIG.end_date + timedelta(days=1), datetime.min.time().replace(hour=6), PARIS)
    due = {row["file"] for row in schedule if datetime.fromisoformat(row["deliver_at"]) <= cutoff}
    landed = {p.name for p in generated.landing.iterdir()}
    assert landed == due
    at = {row["file"]: datetime.fromisoformat(row["deliver_at"]).timestamp() for row in schedule}
    assert all((generated.landing / name).stat().st_mtime == at[name] for name in landed)  # dated as delivered
    for row in schedule:
        if row["kind"] == "redelivery":
            original = row["file"].replace("_resend", "")
            outbox = generated.data / "cti_outbox"
            resent, first = (outbox / row["file"]).read_bytes(), (outbox / original).read_bytes()
            assert resent == first or (resent.startswith(first) and not first.endswith(b"\n"))  # a cut file, complete
        if row["kind"] == "late":
            day = datetime.strptime(row["file"][4:12], "%Y%m%d").date()
            assert datetime.fromisoformat(row["deliver_at"]).date() >= day + timedelta(days=2)
    # Delivering later brings the rest, atomically, and only once.
    landing = tmp_path / "landing"
    first = deliver(cutoff, generated.data / "cti_outbox", landing)
    assert set(first) == due
    later = deliver(cutoff + timedelta(days=30), generated.data / "cti_outbox", landing)
    assert set(later) == {row["file"] for row in schedule} - due
    assert deliver(cutoff + timedelta(days=30), generated.data / "cti_outbox", landing) == []
    assert not [p for p in landing.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- CRM and app stores
def _objects(g: Generated, object_type: str) -> pd.DataFrame:
    with sqlite3.connect(g.data / "crm.sqlite") as conn:
        rows = conn.execute(
            "select id, properties, created_at, updated_at from objects where object_type = ?", (object_type,)
        ).fetchall()
    return pd.DataFrame([{**json.loads(p), "_id": i, "_created": c, "_updated": u} for i, p, c, u in rows])


def test_crm_store_objects_ids_and_property_catalogue(generated: Generated) -> None:
    with sqlite3.connect(generated.data / "crm.sqlite") as conn:
        declared = {
            t: {r[0] for r in conn.execute("select name from properties where object_type = ?", (t,))}
            for t in PROPERTIES
        }
        owners = conn.execute("select first_name from owners order by id").fetchall()
        links = conn.execute(
            "select count(*) from associations where from_type = 'tickets' and to_type = 'contacts'"
        ).fetchone()[0]
    assert owners[0][0] == "Claire"
    ranges = {}
    for object_type in PROPERTIES:
        objects = _objects(generated, object_type)
        used = set(objects.columns) - {"_id", "_created", "_updated"}
        assert used <= declared[object_type], used - declared[object_type]
        assert objects["_id"].str.fullmatch(r"\d+").all() and objects["_id"].is_unique
        assert (objects["hs_object_id"] == objects["_id"]).all()
        assert (objects["_updated"] >= objects["_created"]).all()
        ranges[object_type] = objects["_id"].astype(int)
    assert ranges["contacts"].min() >= 51 and ranges["contacts"].max() < ranges["tickets"].min()
    assert links == len(ranges["tickets"])


def test_crm_tickets_follow_their_lifecycle(generated: Generated) -> None:
    tickets = _objects(generated, "tickets")
    closed = tickets[tickets["hs_pipeline_stage"] == "4"]
    assert closed["closed_date"].notna().all() and (closed["_updated"] >= closed["closed_date"]).all()
    # Impossible rows only where planted, at about the documented rate, listed with the true close.
    planted = generated.truth_csv("crm_defects.csv").set_index("ticket_id")
    impossible = closed[closed["closed_date"] < closed["createdate"]].set_index("_id")
    assert sorted(impossible.index) == sorted(planted.index.astype(str))
    assert 1 <= len(impossible) <= 3 * CLOSED_BEFORE_CREATED_RATE * len(closed) + 3  # Poisson noise at this size
    truth = planted.set_index(planted.index.astype(str)).loc[impossible.index]
    assert (truth["recorded_closed_at"] == impossible["closed_date"]).all()
    assert (truth["true_closed_at"] >= impossible["createdate"]).all()
    possible = closed[~closed["_id"].isin(impossible.index)]
    assert (possible["first_agent_reply_date"] <= possible["closed_date"]).all()
    assert (possible["createdate"] <= possible["first_agent_reply_date"]).all()
    open_ = tickets[tickets["hs_pipeline_stage"] != "4"]
    assert open_["closed_date"].isna().all()
    assert (open_.loc[open_["hs_pipeline_stage"] == "1", "nb_agent_replies"] == "0").all()
    assert set(tickets["source_type"]) == {"PHONE", "EMAIL", "FORM"}
    assert set(tickets["hs_ticket_category"]) == {
        "RDV_SAV",
        "DEVIS",
        "RECLAMATION",
        "FACTURATION",
        "INFORMATION",
        "URGENCE_PANNE",
    }
    assert tickets["createdate"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").all()


def test_crm_contacts_and_identity_map_agree(generated: Generated) -> None:
    contacts = _objects(generated, "contacts").set_index("_id")
    identity = generated.truth_csv("identity_map.csv").set_index("crm_contact_id")
    customers = contacts.loc[identity.index]
    assert (customers["email"] == identity["crm_email"]).all() and (customers["phone"] == identity["crm_phone"]).all()
    with_code = customers["code_client_erp"].notna()
    assert 0.4 < with_code.mean() < 0.8
    assert (customers.loc[with_code, "code_client_erp"] == identity.loc[with_code, "erp_code"]).all()
    truth = generated.truth_csv("customers.csv").set_index("crm_contact_id")
    lost = customers["statut_client"] == "perdu"
    assert (truth.loc[customers.index[lost], "status_at_end"] == "lost").all()
    assert customers.loc[lost, "date_perte"].notna().all() and customers.loc[~lost, "date_perte"].isna().all()
    assert set(contacts["lifecyclestage"]) == {"customer", "lead"}


def test_surveys_have_invitations_and_plausible_answers(generated: Generated) -> None:
    answers = _objects(generated, "feedback_submissions")
    invitations = _objects(generated, "p_survey_invitations")
    assert 0.5 < len(answers) / len(invitations) < 0.7
    nps = answers.loc[answers["hs_survey_type"] == "NPS", "hs_response_value"].astype(int)
    csat = answers.loc[answers["hs_survey_type"] == "CSAT", "hs_response_value"].astype(int)
    assert nps.between(0, 10).all() and csat.between(1, 5).all()
    assert answers.loc[answers["hs_survey_type"] == "CSAT", "hs_ticket_id"].notna().all()


def _payloads(g: Generated, resource: str) -> pd.DataFrame:
    with sqlite3.connect(g.data / "mobile_app.sqlite") as conn:
        rows = conn.execute(f'select updated_at, payload from "{resource}"').fetchall()
    frame = pd.DataFrame([json.loads(p) for _, p in rows])
    assert (frame["updated_at"] == [u for u, _ in rows]).all()
    return frame


def test_app_store_payloads(generated: Generated) -> None:
    technicians = _payloads(generated, "technicians")
    assert technicians["id"].str.fullmatch(r"TECH-\d\d").all() and technicians["first_name"].iloc[0] == "Gaëtan"
    visits = _payloads(generated, "interventions")
    offset = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00"
    assert visits["scheduled_start"].str.fullmatch(offset).all()
    assert visits["updated_at"].str.endswith("Z").all()
    assert set(visits["status"]) >= {"done", "scheduled", "cancelled"}
    done = visits[visits["status"] == "done"]
    assert done["actual_end"].notna().all() and visits.loc[visits["status"] == "scheduled", "actual_start"].isna().all()
    assert 0.18 < (visits["booked_via"] == "portal").mean() < 0.32
    assert visits["customer_code"].str.fullmatch(r"CL\d{6}").all()
    quotes = _payloads(generated, "field-quotes")
    accepted = quotes[quotes["status"] == "accepted"]
    assert accepted["erp_quote_number"].str.fullmatch(r"DE\d{6}").all()
    assert quotes.loc[quotes["status"] != "accepted", "erp_quote_number"].isna().all()
    entries = _payloads(generated, "time-entries")
    office = entries["technician_id"].isna()
    assert set(entries.loc[~office, "kind"]) == {"work", "travel", "admin", "break"}
    assert set(entries.loc[office, "kind"]) == {"phone", "email", "admin", "meeting", "break"}
    assert entries.loc[office, "staff_id"].str.fullmatch(r"OFF-\d\d").all() and entries["id"].is_unique
    assert (entries.loc[entries["kind"] == "work", "intervention_id"].isin(visits["id"])).mean() > 0.99
    missing = generated.truth_csv("missing_time_entries.csv")
    worked = set(zip(entries["technician_id"], entries["work_date"], strict=True))
    assert len(missing) > 0 and not set(zip(missing["technician_id"], missing["work_date"], strict=True)) & worked


# --------------------------------------------------------------------------- ERP
def test_erp_schema_looks_like_sage(generated: Generated) -> None:
    schema = generated.destinations.erp_schema
    with psycopg.connect(_erp_url()) as conn:
        types = dict(
            conn.execute(
                "select table_name || '.' || column_name, data_type from information_schema.columns where table_schema = %s",
                (schema,),
            ).fetchall()
        )
        assert types["F_COMPTET.CT_Num"] == "character varying"
        assert types["F_DOCENTETE.cbModification"] == "timestamp without time zone"
        query = lambda text: conn.execute(sql.SQL(text).format(s=sql.Identifier(schema))).fetchall()  # noqa: E731
        sleeping = query('select "CT_Num" from {s}."F_COMPTET" where "CT_Sommeil" = 1')
        later = query('select count(*) from {s}."F_DOCENTETE" where "cbModification" > "cbCreation"')[0][0]
        field_refs = query('select "DO_Ref" from {s}."F_DOCENTETE" where "DO_Type" = 0 and "DO_Ref" like \'FQ-%\'')
        orphan_lines = query(
            'select count(*) from {s}."F_DOCLIGNE" l left join {s}."F_DOCENTETE" h using ("DO_Domaine", "DO_Type", "DO_Piece") '
            'where h."DO_Piece" is null'
        )[0][0]
        pieces = {r[0] for r in query('select "DO_Piece" from {s}."F_DOCENTETE"')}
        types_seen = {r[0] for r in query('select distinct "DO_Type" from {s}."F_DOCENTETE"')}
    lost = generated.truth_csv("customers.csv").query("status_at_end == 'lost'")["erp_code"]
    assert {r[0] for r in sleeping} == set(lost)
    assert later > 5 and orphan_lines == 0 and types_seen == {0, 1, 3, 6, 7}
    accepted = _payloads(generated, "field-quotes").query("status == 'accepted'")["id"]
    assert {r[0] for r in field_refs} == set(accepted)
    anomalies = generated.truth_csv("anomalies.csv")
    erp_anomalies = anomalies[anomalies["kind"].str.startswith("erp_")]
    assert set(erp_anomalies["kind"]) == {
        "erp_abnormal_amount",
        "erp_credit_without_invoice",
        "erp_duplicate",
        "erp_night_weekend",
    }
    assert set(erp_anomalies["reference"]) <= pieces


# --------------------------------------------------------------------------- ground truth
def test_ground_truth_files(generated: Generated) -> None:
    customers = generated.truth_csv("customers.csv")
    assert set(customers["segment"]) <= {"VIP Champions", "Loyal Customers", "At Risk / Dormant", "New Customers",
                                          "Potential Loyalists", "Lost Customers"}  # fmt: skip
    churn = generated.truth_csv("churn.csv")
    active = customers.loc[customers["status_at_end"] == "active", "customer_id"]
    assert set(churn["customer_id"]) == set(active)
    assert churn["churn_prob_180d"].astype(float).between(0, 1).all()
    left = churn["churned_within_180d"] == "True"
    assert (churn.loc[left, "churn_date"] != "").all() and (churn.loc[~left, "churn_date"] == "").all()
    unknown = generated.truth_csv("unknown_numbers.csv")
    known = set(generated.truth_csv("customers.csv")["phone_e164"])
    assert unknown["phone_e164"].str.fullmatch(r"\+33\d{9}").all() and not set(unknown["phone_e164"]) & known
    visits = generated.truth_csv("interventions.csv")
    assert visits["date"].max() > CONFIG.end_date.isoformat()  # booked and planned visits after the end date
    assert set(visits.columns) == {
        "intervention_id",
        "technician_id",
        "date",
        "latitude",
        "longitude",
        "scheduled_start",
        "duration_min",
    }
    vip = generated.truth_csv("anomalies.csv").query("kind == 'vip_low_satisfaction'")
    assert len(vip) >= 2


def test_general_ledger_balances_and_its_customer_service_section_is_the_desks_cost(generated: Generated) -> None:
    """Sage's general ledger: every piece balances; the analytic lines split their ledger line
    exactly; the customer-service section of each month is what the world says the desk cost;
    months close on the 10th of the next month, so the last month is still open."""
    schema = sql.Identifier(generated.destinations.erp_schema)
    with psycopg.connect(_erp_url()) as conn:
        query = lambda text: conn.execute(sql.SQL(text).format(s=schema)).fetchall()  # noqa: E731
        unbalanced = query(
            'select "JO_Num", "EC_Piece" from {s}."F_ECRITUREC" group by 1, 2 '
            'having abs(sum(case "EC_Sens" when 0 then "EC_Montant" else -"EC_Montant" end)) > 0.001'
        )
        split_off = query(
            'select c."EC_No" from {s}."F_ECRITUREC" c join {s}."F_ECRITUREA" a using ("EC_No") '
            'group by c."EC_No", c."EC_Montant" having abs(sum(a."EA_Montant") - c."EC_Montant") > 0.001'
        )
        monthly = dict(
            query(
                "select to_char(c.\"JM_Date\", 'YYYY-MM'), "
                'sum(case c."EC_Sens" when 0 then a."EA_Montant" else -a."EA_Montant" end) '
                'from {s}."F_ECRITUREC" c join {s}."F_ECRITUREA" a using ("EC_No") '
                "where a.\"CA_Num\" = 'SERVCLIENT' and c.\"CG_Num\" like '6%%' group by 1"
            )
        )
        periods = query('select "JO_Num", "JM_Date", "JM_Cloture", "JM_DateCloture" from {s}."F_JMOUV"')
        no_due_date = query('select count(*) from {s}."F_ECRITUREC" where "EC_Echeance" = \'1753-01-01\'')[0][0]
    assert unbalanced == [] and split_off == []
    truth = generated.truth_csv("customer_service_costs.csv").set_index("month")
    closed_months = {f"{d:%Y-%m}" for j, d, status, _ in periods if status == 2}
    checked = [m for m in truth.index if m in closed_months]
    assert len(checked) >= 10
    assert {m: round(float(monthly[m]), 2) for m in checked} == {m: float(truth.loc[m, "total_eur"]) for m in checked}
    # the last exported month (March 2025) closes on 10 April: still open at the snapshot
    assert {status for _, d, status, _ in periods if f"{d:%Y-%m}" == "2025-03"} == {0}
    assert all(closed.day >= 10 and closed > d for _, d, status, closed in periods if status == 2)
    assert no_due_date > 0  # Sage's empty date


# --------------------------------------------------------------------------- portal analytics and mailbox
def test_ga4_store_reports_the_history_and_agrees_with_the_app(generated: Generated) -> None:
    conn = sqlite3.connect(generated.data / "portal_analytics.sqlite")
    days = conn.execute("select count(*), min(day), max(day) from traffic where page_path = ''").fetchone()
    paths = {r[0] for r in conn.execute("select distinct page_path from traffic where page_path <> ''")}
    as_of = conn.execute("select data_as_of from property").fetchone()[0]
    conn.close()
    # A day without a consented visit has no row (GA4 leaves out empty rows); at scale 0.3 a few do.
    assert 350 <= days[0] <= 366 and days[1:] == ("20240331", "20250331") and "/rendez-vous/confirmation" in paths
    assert as_of.startswith("2025-03-31T22:00:00")  # midnight after the end date, Paris
    truth = generated.truth_csv("portal_daily.csv").astype({"true_visits": int, "ga_sessions": int,
                                                           "portal_bookings": int, "portal_bookings_validated": int})  # fmt: skip
    assert 0.6 < truth["ga_sessions"].sum() / truth["true_visits"].sum() < 0.76, "GA4 sees consented visits"
    # The portal's bookings are the app's: per booking day, the same counts.
    visits = _payloads(generated, "interventions")
    portal = visits[visits["booked_via"] == "portal"]
    booked_day = portal["created_at"].str[:10]
    app_counts = booked_day.value_counts()
    validated = booked_day[portal["status"] != "cancelled"].value_counts()
    history = truth.set_index("date")
    assert (history["portal_bookings"] == app_counts.reindex(history.index).fillna(0).astype(int)).all()
    assert (history["portal_bookings_validated"] == validated.reindex(history.index).fillna(0).astype(int)).all()
    monthly = generated.truth_csv("portal_monthly.csv")
    complete = monthly[monthly["month"] > CONFIG.start_date.isoformat()[:7]]  # the first month is one day
    assert complete["conversion_rate"].astype(float).between(0.08, 0.3).all()


def test_mailbox_store_holds_every_email_ticket_and_the_removed_spam(generated: Generated) -> None:
    conn = sqlite3.connect(generated.data / "mailbox.sqlite")
    folders = dict(
        conn.execute("select f.well_known, count(*) from messages m join folders f on m.folder = f.id group by 1")
    )
    removals = conn.execute("select count(*) from removals").fetchone()[0]
    payload = json.loads(conn.execute("select payload from messages order by seq limit 1").fetchone()[0])
    conn.close()
    truth = generated.truth_csv("mailbox_messages.csv")
    removed = truth["is_removed"] == "True"
    assert folders["inbox"] == (~removed).sum() and folders["junkemail"] == removals == removed.sum() > 0
    assert set(truth.loc[removed, "kind"]) == {"spam"}
    assert payload["receivedDateTime"].endswith("Z") and payload["from"]["emailAddress"]["address"]
    assert payload["flag"]["flagStatus"] in ("complete", "notFlagged")
    tickets = pd.DataFrame([json.loads(p) for (p,) in sqlite3.connect(generated.data / "crm.sqlite").execute(
        "select properties from objects where object_type = 'tickets'")])  # fmt: skip
    email = tickets[tickets["source_type"] == "EMAIL"]
    openers = truth[truth["kind"] == "ticket_request"]
    assert sorted(openers["crm_ticket_id"]) == sorted(email["hs_object_id"])
    created = email.set_index("hs_object_id")["createdate"]
    assert (openers["received_at"].to_numpy() == created.loc[openers["crm_ticket_id"]].to_numpy()).all()
    daily = generated.truth_csv("mailbox_daily.csv").astype(
        {"received": int, "handled": int, "waiting_end_of_day": int}
    )
    stock = daily["received"].cumsum() - daily["handled"].cumsum()
    assert (stock == daily["waiting_end_of_day"]).all() and daily["waiting_end_of_day"].min() >= 0
