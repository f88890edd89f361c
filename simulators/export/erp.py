"""The Sage 100-like ERP database (PostgreSQL) as it stands at the end of `end_date`.

Sage names and quotes its identifiers (`"F_COMPTET"."CT_Num"`) and stores local Paris time
without a zone; every table has `cbMarq` and `cbModification`. Sage writes 1753-01-01 (SQL
Server's smallest datetime) where a date is empty, e.g. a ledger line without a due date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from simulators.world import World, catalog
from simulators.world.clock import format_paris_wall, paris_to_utc, utc_to_paris
from simulators.world.rng import component_rng

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "F_COMPTET": (
        ("cbMarq", "integer not null"),
        ("CT_Num", "varchar(17) not null"),
        ("CT_Intitule", "varchar(69)"),
        ("CT_Type", "smallint not null"),
        ("CT_Qualite", "varchar(17)"),
        ("CT_Adresse", "varchar(35)"),
        ("CT_CodePostal", "varchar(9)"),
        ("CT_Ville", "varchar(35)"),
        ("CT_Telephone", "varchar(21)"),
        ("CT_EMail", "varchar(69)"),
        ("CT_Sommeil", "smallint not null"),
        ("CT_DateCreate", "timestamp without time zone"),
        ("cbCreation", "timestamp without time zone not null"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    "F_ARTICLE": (
        ("cbMarq", "integer not null"),
        ("AR_Ref", "varchar(19) not null"),
        ("AR_Design", "varchar(69)"),
        ("FA_CodeFamille", "varchar(19)"),
        ("AR_PrixVen", "numeric(24, 6)"),
        ("cbCreation", "timestamp without time zone not null"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    "F_DOCENTETE": (
        ("cbMarq", "integer not null"),
        ("DO_Domaine", "smallint not null"),
        ("DO_Type", "smallint not null"),
        ("DO_Piece", "varchar(13) not null"),
        ("DO_Date", "timestamp without time zone"),
        ("DO_Tiers", "varchar(17)"),
        ("DO_Ref", "varchar(17)"),
        ("DO_Statut", "smallint"),
        ("DO_TotalHT", "numeric(24, 6)"),
        ("DO_TotalTTC", "numeric(24, 6)"),
        ("cbCreation", "timestamp without time zone not null"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    "F_DOCLIGNE": (
        ("cbMarq", "integer not null"),
        ("DO_Domaine", "smallint not null"),
        ("DO_Type", "smallint not null"),
        ("DO_Piece", "varchar(13) not null"),
        ("DL_Ligne", "integer"),
        ("CT_Num", "varchar(17)"),
        ("AR_Ref", "varchar(19)"),
        ("DL_Design", "varchar(69)"),
        ("DL_Qte", "numeric(24, 6)"),
        ("DL_PrixUnitaire", "numeric(24, 6)"),
        ("DL_MontantHT", "numeric(24, 6)"),
        ("DL_PieceDE", "varchar(13)"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    # General ledger (Sage 100 Comptabilité): one row per line; the accounting date is
    # JM_Date (first day of the month) + EC_Jour - 1; EC_Date is the day the line was keyed.
    "F_ECRITUREC": (
        ("cbMarq", "integer not null"),
        ("JO_Num", "varchar(6) not null"),
        ("EC_No", "integer not null"),
        ("JM_Date", "timestamp without time zone not null"),
        ("EC_Jour", "smallint not null"),
        ("EC_Date", "timestamp without time zone"),
        ("EC_Piece", "varchar(13)"),
        ("EC_RefPiece", "varchar(17)"),
        ("CG_Num", "varchar(13) not null"),
        ("CT_Num", "varchar(17)"),
        ("EC_Intitule", "varchar(69)"),
        ("EC_Echeance", "timestamp without time zone"),
        ("EC_Sens", "smallint not null"),
        ("EC_Montant", "numeric(24, 6) not null"),
        ("cbCreation", "timestamp without time zone not null"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    # Analytic split of a ledger line: N_Analytique is the analytic plan (1: sections), CA_Num the section.
    "F_ECRITUREA": (
        ("cbMarq", "integer not null"),
        ("EC_No", "integer not null"),
        ("N_Analytique", "smallint not null"),
        ("EA_Ligne", "integer not null"),
        ("CA_Num", "varchar(13) not null"),
        ("EA_Montant", "numeric(24, 6) not null"),
        ("EA_Quantite", "numeric(24, 6) not null"),
        ("cbModification", "timestamp without time zone not null"),
    ),
    # Journal periods: a row per journal and month with entries; JM_Cloture 0 open, 2 closed.
    "F_JMOUV": (
        ("cbMarq", "integer not null"),
        ("JO_Num", "varchar(6) not null"),
        ("JM_Date", "timestamp without time zone not null"),
        ("JM_Cloture", "smallint not null"),
        ("JM_Impression", "smallint not null"),
        ("JM_DateCloture", "timestamp without time zone"),
        ("cbModification", "timestamp without time zone not null"),
    ),
}
PRIMARY_KEYS = {
    "F_COMPTET": ("CT_Num",),
    "F_ARTICLE": ("AR_Ref",),
    "F_DOCENTETE": ("DO_Domaine", "DO_Type", "DO_Piece"),
    "F_DOCLIGNE": ("cbMarq",),
    "F_ECRITUREC": ("EC_No",),
    "F_ECRITUREA": ("cbMarq",),
    "F_JMOUV": ("JO_Num", "JM_Date"),
}
NO_DATE = "1753-01-01 00:00:00"


def _latest(*instants: np.ndarray) -> np.ndarray:
    """Element-wise latest instant, ignoring NaT."""
    stacked = np.stack([np.where(np.isnat(i), np.datetime64("1970-01-01T00:00:00"), i) for i in instants])
    return stacked.max(axis=0)


def erp_tables(world: World) -> dict[str, pd.DataFrame]:
    """The four Sage tables, one DataFrame each with the Sage column names."""
    rng = component_rng(world.config.seed, "erp_export")
    snapshot = world.snapshot
    customers = world.customers[world.exported_customers]
    n = len(customers)
    signup = np.array(customers["signup_date"], dtype="datetime64[D]").astype("datetime64[s]")
    created = paris_to_utc(signup + rng.integers(9 * 3600, 17 * 3600, n).astype("timedelta64[s]"))
    churned_at = world.churn_instant[customers.index]
    dormant = ~np.isnat(churned_at) & (churned_at <= snapshot)
    edited = created + (rng.random(n) * (snapshot - created).astype("int64")).astype("int64").astype("timedelta64[s]")
    modified = _latest(
        created,
        np.where(rng.random(n) < 0.05, edited, np.datetime64("NaT")),
        np.where(dormant, churned_at, np.datetime64("NaT")),
    )
    title = np.where(
        customers["company"].notna(),
        customers["company"],
        customers["last_name"].str.upper() + " " + customers["first_name"],
    )
    comptet = pd.DataFrame(
        {
            "CT_Num": customers["erp_code"].to_numpy(),
            "CT_Intitule": title,
            "CT_Type": 0,
            "CT_Qualite": customers["customer_type"].str.upper().to_numpy(),
            "CT_Adresse": customers["street"].str.slice(0, 35).to_numpy(),
            "CT_CodePostal": customers["postal_code"].to_numpy(),
            "CT_Ville": customers["city"].to_numpy(),
            "CT_Telephone": customers["erp_phone"].to_numpy(),
            "CT_EMail": customers["erp_email"].to_numpy(),
            "CT_Sommeil": dormant.astype(int),
            "CT_DateCreate": np.char.add(np.datetime_as_string(signup.astype("datetime64[D]")), " 00:00:00"),
            "cbCreation": format_paris_wall(created),
            "cbModification": format_paris_wall(modified),
            "_order": created,
        }
    )

    article_created = world.history_start - np.timedelta64(3 * 365, "D")
    repriced = rng.random(len(catalog.ARTICLES)) < 0.15  # a few price updates during the history
    reprice_at = world.history_start + (
        rng.random(len(catalog.ARTICLES)) * (snapshot - world.history_start).astype("int64")
    ).astype("int64").astype("timedelta64[s]")
    articles = pd.DataFrame(
        {
            "AR_Ref": [a[0] for a in catalog.ARTICLES],
            "AR_Design": [a[1] for a in catalog.ARTICLES],
            "FA_CodeFamille": [a[2] for a in catalog.ARTICLES],
            "AR_PrixVen": [a[3] for a in catalog.ARTICLES],
            "cbCreation": format_paris_wall(np.full(len(catalog.ARTICLES), article_created)),
            "cbModification": format_paris_wall(np.where(repriced, reprice_at, article_created)),
            "_order": np.arange(len(catalog.ARTICLES)),
        }
    )

    documents = world.ledger.documents
    visible = (documents["created_utc"] >= world.history_start) & (documents["created_utc"] < snapshot)
    d = documents[visible].reset_index(drop=True)
    invoice = d["prefix"].isin(["FA", "AV"]).to_numpy()
    posted = invoice & (d["posted_utc"].to_numpy() < snapshot)
    sent = d["sent_utc"].to_numpy() < snapshot
    accepted = d["accepted_utc"].to_numpy() < snapshot
    is_quote = (d["prefix"] == "DE").to_numpy()
    status = np.select([is_quote & accepted, is_quote & sent, is_quote, posted], [2, 1, 0, 2], default=1)
    doc_modified = _latest(
        d["created_utc"].to_numpy(),
        np.where(sent, d["sent_utc"], np.datetime64("NaT")),
        np.where(accepted, d["accepted_utc"], np.datetime64("NaT")),
        np.where(posted, d["posted_utc"], np.datetime64("NaT")),
    )
    do_type = np.where(posted, 7, d["do_type"].to_numpy())
    headers = pd.DataFrame(
        {
            "DO_Domaine": 0,
            "DO_Type": do_type,
            "DO_Piece": d["piece"].to_numpy(),
            "DO_Date": np.char.add(np.datetime_as_string(d["do_date"].to_numpy().astype("datetime64[D]")), " 00:00:00"),
            "DO_Tiers": world.customers["erp_code"].to_numpy()[d["customer"]],
            "DO_Ref": d["reference"].to_numpy(),
            "DO_Statut": status,
            "DO_TotalHT": d["total_ht"].to_numpy(),
            "DO_TotalTTC": d["total_ttc"].to_numpy(),
            "cbCreation": format_paris_wall(d["created_utc"].to_numpy()),
            "cbModification": format_paris_wall(doc_modified),
            "_order": d["created_utc"].to_numpy(),
            "_key": d["doc_key"].to_numpy(),
        }
    )
    headers = headers.sort_values(["_order", "DO_Piece"], kind="stable").reset_index(drop=True)
    headers.insert(0, "cbMarq", np.arange(1, len(headers) + 1))

    lines = world.ledger.lines
    lines = lines[lines["doc_key"].isin(headers["_key"])]
    of_header = headers.set_index("_key")
    lines = lines.assign(_marq=lines["doc_key"].map(of_header["cbMarq"])).sort_values(
        ["_marq", "line_no"], kind="stable"
    )
    keys = lines["doc_key"]
    lines_table = pd.DataFrame(
        {
            "cbMarq": np.arange(1, len(lines) + 1),
            "DO_Domaine": 0,
            "DO_Type": keys.map(of_header["DO_Type"]).to_numpy(),
            "DO_Piece": lines["piece"].to_numpy(),
            "DL_Ligne": lines["line_no"].to_numpy(),
            "CT_Num": keys.map(of_header["DO_Tiers"]).to_numpy(),
            "AR_Ref": lines["ar_ref"].to_numpy(),
            "DL_Design": lines["designation"].to_numpy(),
            "DL_Qte": lines["quantity"].to_numpy(),
            "DL_PrixUnitaire": lines["unit_price"].to_numpy(),
            "DL_MontantHT": lines["amount"].to_numpy(),
            "DL_PieceDE": lines["from_quote_piece"].where(lines["from_quote_piece"].notna(), None).to_numpy(),
            "cbModification": keys.map(of_header["cbModification"]).to_numpy(),
        }
    )
    comptet = comptet.sort_values(["_order", "CT_Num"], kind="stable").reset_index(drop=True)
    comptet.insert(0, "cbMarq", np.arange(1, len(comptet) + 1))
    articles.insert(0, "cbMarq", np.arange(1, len(articles) + 1))
    return {
        "F_COMPTET": comptet.drop(columns="_order"),
        "F_ARTICLE": articles.drop(columns="_order"),
        "F_DOCENTETE": headers.drop(columns=["_order", "_key"]),
        "F_DOCLIGNE": lines_table,
        **ledger_tables(world),
    }


def _midnight_text(days: np.ndarray) -> np.ndarray:
    """Sage dates: local midnight as text, the 1753-01-01 placeholder where there is none."""
    days = np.asarray(days, dtype="datetime64[D]")
    text = np.char.add(np.datetime_as_string(days), " 00:00:00").astype(object)
    text[np.isnat(days)] = NO_DATE
    return text


def ledger_tables(world: World) -> dict[str, pd.DataFrame]:
    """F_ECRITUREC, F_ECRITUREA and F_JMOUV: the lines keyed by the snapshot, from the first
    exported month on, and each journal period as it stood then (closed or still open)."""
    ledger = world.general_ledger
    snapshot = world.snapshot
    first_period = np.datetime64(world.config.start_date, "M").astype("datetime64[D]")
    lines = ledger.lines[
        (ledger.lines["keyed_utc"].to_numpy() < snapshot) & (ledger.lines["period"].to_numpy() >= first_period)
    ].reset_index(drop=True)
    keyed = lines["keyed_utc"].to_numpy()
    keyed_day = utc_to_paris(keyed).astype("datetime64[D]")
    entries = pd.DataFrame(
        {
            "cbMarq": np.arange(1, len(lines) + 1),
            "JO_Num": lines["journal"].to_numpy(),
            "EC_No": lines["line_no"].to_numpy() + 1,
            "JM_Date": _midnight_text(lines["period"].to_numpy()),
            "EC_Jour": lines["day"].to_numpy(),
            "EC_Date": _midnight_text(keyed_day),
            "EC_Piece": lines["piece"].to_numpy(),
            "EC_RefPiece": lines["reference"].str.slice(0, 17).to_numpy(),
            "CG_Num": lines["account"].to_numpy(),
            "CT_Num": None,  # the suppliers' sub-ledger is not simulated
            "EC_Intitule": lines["label"].to_numpy(),
            "EC_Echeance": _midnight_text(lines["due"].to_numpy()),
            "EC_Sens": lines["sens"].to_numpy(),
            "EC_Montant": lines["amount"].to_numpy(),
            "cbCreation": format_paris_wall(keyed),
            "cbModification": format_paris_wall(keyed),
        }
    )
    analytic = ledger.analytic[ledger.analytic["line_no"].isin(lines["line_no"])].reset_index(drop=True)
    modified = dict(zip(lines["line_no"], entries["cbModification"], strict=True))
    analytic_table = pd.DataFrame(
        {
            "cbMarq": np.arange(1, len(analytic) + 1),
            "EC_No": analytic["line_no"].to_numpy() + 1,
            "N_Analytique": 1,
            "EA_Ligne": analytic["position"].to_numpy(),
            "CA_Num": analytic["section"].to_numpy(),
            "EA_Montant": analytic["amount"].to_numpy(),
            "EA_Quantite": 0.0,
            "cbModification": analytic["line_no"].map(modified).to_numpy(),
        }
    )
    periods = ledger.periods[
        (ledger.periods["opened_utc"].to_numpy() < snapshot) & (ledger.periods["period"].to_numpy() >= first_period)
    ].reset_index(drop=True)
    closed = periods["closed_utc"].to_numpy() < snapshot
    closed_at = np.where(closed, periods["closed_utc"].to_numpy(), np.datetime64("NaT"))
    last_entry = lines.groupby(["journal", "period"])["keyed_utc"].max()
    last_keyed = np.array(
        [last_entry[(j, p)] for j, p in zip(periods["journal"], periods["period"], strict=True)], dtype="datetime64[s]"
    )
    journal_periods = pd.DataFrame(
        {
            "cbMarq": np.arange(1, len(periods) + 1),
            "JO_Num": periods["journal"].to_numpy(),
            "JM_Date": _midnight_text(periods["period"].to_numpy()),
            "JM_Cloture": np.where(closed, 2, 0),
            "JM_Impression": np.where(closed, 1, 0),
            "JM_DateCloture": np.where(closed, format_paris_wall(closed_at), NO_DATE),
            "cbModification": format_paris_wall(np.where(closed, closed_at, last_keyed)),
        }
    )
    return {"F_ECRITUREC": entries, "F_ECRITUREA": analytic_table, "F_JMOUV": journal_periods}


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def write_erp(world: World, database_url: str, schema: str = "dbo") -> dict[str, int]:
    """Drop and recreate `schema`, then bulk-load every table with COPY."""
    tables = erp_tables(world)
    counts = {}
    with psycopg.connect(database_url) as conn:
        schema_id = sql.Identifier(schema)
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(schema_id))
        conn.execute(sql.SQL("create schema {}").format(schema_id))
        for name, columns in TABLES.items():
            table_id = sql.SQL("{}.{}").format(schema_id, sql.Identifier(name))
            definition = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns)
            key = sql.SQL(", ").join(sql.Identifier(k) for k in PRIMARY_KEYS[name])
            conn.execute(sql.SQL("create table {} ({}, primary key ({}))").format(table_id, definition, key))
            frame = tables[name][[c for c, _ in columns]]
            copy = sql.SQL("copy {} ({}) from stdin").format(
                table_id, sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
            )
            with conn.cursor() as cursor, cursor.copy(copy) as target:
                for row in frame.itertuples(index=False, name=None):
                    target.write_row([_cell(v) for v in row])
            # Incremental readers filter on cbModification.
            conn.execute(
                sql.SQL("create index {} on {} ({})").format(
                    sql.Identifier(f"{name}_cbModification"), table_id, sql.Identifier("cbModification")
                )
            )
            counts[name] = len(frame)
    return counts
