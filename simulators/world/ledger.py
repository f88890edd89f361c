"""The Sage sales ledger: quotes, orders, delivery notes, invoices, credit notes and planted anomalies.

Invoices follow the field work (each finished visit is billed; installations through the
quote -> order -> delivery note -> invoice chain), so a customer's RFM profile drives its
invoice frequency, basket and recency. Invoices are posted (DO_Type 6 -> 7) in a monthly batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world import catalog
from simulators.world.catalog import BREAKDOWN, MAINTENANCE
from simulators.world.clock import paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

PRICE = {ref: price for ref, _, _, price in catalog.ARTICLES}
DESIGNATION = {ref: design for ref, design, _, _ in catalog.ARTICLES}
CREDIT_NOTE_RATE = 0.015
CONTRACT_SHARE = {catalog.VIP_CHAMPIONS: 0.5, catalog.LOYAL: 0.5}
# Planted anomalies per 1,000 invoices of the exported history (about 20 of each kind at scale 1
# over two years, 200 at scale 10): a rate, so recall and precision can be measured at any scale.
# Keying errors of this order (a few per thousand documents) are what accounting audits report.
ANOMALIES_PER_1000_INVOICES = {
    "erp_abnormal_amount": 2.5,
    "erp_credit_without_invoice": 1.5,
    "erp_duplicate": 2.5,
    "erp_night_weekend": 2.5,
}
DOC_TYPES = {"DE": 0, "BC": 1, "BL": 3, "FA": 6, "AV": 6}


@dataclass
class Ledger:
    documents: pd.DataFrame  # one row per Sage document, with its change history
    lines: pd.DataFrame
    anomalies: pd.DataFrame


def _office_instant(rng: np.random.Generator, instants: np.ndarray, min_hours: float, max_hours: float) -> np.ndarray:
    """Accounting works office hours: some hours after an event, moved into the next 08:30-17:30 weekday."""
    lag = (rng.uniform(min_hours, max_hours, len(instants)) * 3600).astype("int64").astype("timedelta64[s]")
    later = utc_to_paris(np.asarray(instants, dtype="datetime64[s]") + lag)
    day = later.astype("datetime64[D]")
    seconds = (later - day).astype("int64")
    morning = rng.integers(int(8.5 * 3600), 11 * 3600, len(instants))
    after_hours = seconds > 17.5 * 3600
    day = day + after_hours.astype("timedelta64[D]")
    weekday = pd.DatetimeIndex(day).day_of_week.to_numpy()
    to_monday = np.select([weekday == 5, weekday == 6], [2, 1], default=0)
    day = day + to_monday.astype("timedelta64[D]")
    seconds = np.where(after_hours | (to_monday > 0) | (seconds < 8.5 * 3600), morning, seconds)
    return paris_to_utc(day.astype("datetime64[s]") + seconds.astype("timedelta64[s]"))


def _posting_instant(created: np.ndarray) -> np.ndarray:
    """The monthly posting batch: the 5th of the next month at 22:00 Paris."""
    month = utc_to_paris(created).astype("datetime64[M]")
    return paris_to_utc(
        (month + 1).astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(4 * 86400 + 22 * 3600, "s")
    )


def _lines(
    doc_key: np.ndarray, ar_ref: np.ndarray, quantity: np.ndarray, unit_price: np.ndarray | None = None
) -> pd.DataFrame:
    price = np.array([PRICE[r] for r in ar_ref]) if unit_price is None else unit_price
    return pd.DataFrame({"doc_key": doc_key, "ar_ref": ar_ref, "quantity": quantity, "unit_price": np.round(price, 2)})


def _visit_invoice_lines(
    rng: np.random.Generator, visits: pd.DataFrame, basket: np.ndarray, doc_key: np.ndarray
) -> pd.DataFrame:
    """Labour, travel and parts for maintenance and breakdown visits; the basket scales quantities."""
    kind = visits["kind"].to_numpy()
    n = len(visits)
    maintenance_item = np.array(catalog.LABOUR_ITEM_BY_TYPE[MAINTENANCE])[rng.integers(0, 4, n)]
    hours = np.maximum(0.5, np.round(visits["planned_minutes"].to_numpy() / 60 * basket * 2) / 2)
    breakdown = kind == BREAKDOWN
    parts = rng.poisson(np.where(breakdown, 0.9, 0.2) * basket)
    weekend = pd.DatetimeIndex(utc_to_paris(visits["actual_start_utc"].to_numpy())).day_of_week.to_numpy() >= 5
    part_keys = np.repeat(doc_key, parts)
    return pd.concat(
        [
            _lines(doc_key[~breakdown], maintenance_item[~breakdown], np.maximum(1, np.round(basket[~breakdown]))),
            _lines(doc_key[breakdown], np.full(breakdown.sum(), "DEP-FORF"), np.ones(breakdown.sum())),
            _lines(doc_key[breakdown], np.full(breakdown.sum(), "MO-DEP"), hours[breakdown]),
            _lines(
                doc_key[breakdown & weekend],
                np.full((breakdown & weekend).sum(), "DEP-URG"),
                np.ones((breakdown & weekend).sum()),
            ),
            _lines(
                part_keys,
                np.array(catalog.PART_ITEMS)[rng.integers(0, len(catalog.PART_ITEMS), len(part_keys))],
                np.ones(len(part_keys)),
            ),
        ],
        ignore_index=True,
    )


def _quote_lines(rng: np.random.Generator, quotes: pd.DataFrame) -> pd.DataFrame:
    """An installation item and the parts, priced so that the lines add up to the quoted amount."""
    item = np.array(catalog.INSTALLATION_ITEMS)[rng.integers(0, len(catalog.INSTALLATION_ITEMS), len(quotes))]
    amount = quotes["amount"].to_numpy()
    main_share = rng.uniform(0.6, 0.85, len(quotes))
    main = np.round(amount * main_share, 2)
    return pd.concat(
        [
            _lines(quotes["doc_key"].to_numpy(), item, np.ones(len(quotes)), main),
            _lines(
                quotes["doc_key"].to_numpy(),
                np.full(len(quotes), "FOURN-DIV"),
                np.ones(len(quotes)),
                np.round(amount - main, 2),
            ),
        ],
        ignore_index=True,
    )


def build_ledger(
    config: WorldConfig,
    customers: pd.DataFrame,
    interventions: pd.DataFrame,
    quotes: pd.DataFrame,
    field_quotes: pd.DataFrame,
    churn_day: np.ndarray | None = None,
) -> Ledger:
    rng = component_rng(config.seed, "ledger")
    first_day = np.datetime64(config.warmup_start, "D")
    documents: list[pd.DataFrame] = []
    lines: list[pd.DataFrame] = []
    next_key = 0

    def new_documents(prefix: str, customer: np.ndarray, created: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
        nonlocal next_key
        keys = np.arange(next_key, next_key + len(customer))
        next_key += len(customer)
        frame = pd.DataFrame({"doc_key": keys, "prefix": prefix, "customer": customer, "created_utc": created, **extra})
        documents.append(frame)
        return frame

    # ---- quotes and what follows an accepted one
    fq_by_row = field_quotes.set_index("row")
    decided = quotes["row"].map(fq_by_row["decided_utc"]).to_numpy()
    office = quotes["origin"].to_numpy() == "office"
    office_decided = _office_instant(
        rng,
        paris_to_utc((first_day + quotes["decision_day"].to_numpy().astype("timedelta64[D]")).astype("datetime64[s]")),
        9,
        17,
    )
    decided = np.where(office, office_decided, decided)
    office_created = _office_instant(
        rng,
        paris_to_utc((first_day + quotes["day"].to_numpy().astype("timedelta64[D]")).astype("datetime64[s]")),
        9,
        30,
    )
    accepted = quotes["outcome"].to_numpy() == "accepted"
    # Field quotes reach Sage only once validated; office quotes are typed in, then sent.
    in_sage = office | accepted
    created = np.where(office, office_created, decided)
    decided = np.maximum(decided, created + np.timedelta64(3600, "s"))
    de = new_documents(
        "DE",
        quotes["customer"].to_numpy()[in_sage],
        created[in_sage],
        sent_utc=np.where(office, created + np.timedelta64(2 * 3600, "s"), created)[in_sage],
        accepted_utc=np.where(accepted, decided, np.datetime64("NaT"))[in_sage],
        reference=np.where(office, None, quotes["row"].map(fq_by_row["field_quote_id"]).to_numpy())[in_sage],
        quote_row=quotes["row"].to_numpy()[in_sage],
    )
    de = de.assign(amount=quotes["amount"].to_numpy()[in_sage])
    lines.append(_quote_lines(rng, de))
    won = de[~np.isnat(de["accepted_utc"].to_numpy())]
    bc = new_documents(
        "BC",
        won["customer"].to_numpy(),
        _office_instant(rng, won["accepted_utc"].to_numpy(), 1, 30),
        source_key=won["doc_key"].to_numpy(),
    )
    installs = interventions[(interventions["source_quote"] >= 0) & ~interventions["cancelled"]]
    installs = installs.merge(won[["doc_key", "quote_row"]], left_on="source_quote", right_on="quote_row")
    bl = new_documents(
        "BL",
        installs["customer"].to_numpy(),
        installs["actual_end_utc"].to_numpy(),
        source_key=installs["doc_key"].to_numpy(),
    )
    fa_install = new_documents(
        "FA", installs["customer"].to_numpy(), _office_instant(rng, installs["actual_end_utc"].to_numpy(), 1, 60),
        source_key=installs["doc_key"].to_numpy(),
    )  # fmt: skip
    quote_lines = lines[0]
    for follow in (bc, bl, fa_install):
        copied = follow[["doc_key", "source_key"]].merge(
            quote_lines, left_on="source_key", right_on="doc_key", suffixes=("", "_quote")
        )
        lines.append(copied.drop(columns=["doc_key_quote"]).rename(columns={"source_key": "from_quote"}))

    # ---- visit invoices
    billed = interventions[(interventions["source_quote"] < 0) & ~interventions["cancelled"]].reset_index(drop=True)
    basket = customers["profile"].map(catalog.PROFILE_BASKET).to_numpy()[billed["customer"]] * np.where(
        customers["customer_type"].to_numpy()[billed["customer"]] == "professionnel", 1.1, 1.0
    )
    fa_visits = new_documents(
        "FA", billed["customer"].to_numpy(), _office_instant(rng, billed["actual_end_utc"].to_numpy(), 1, 60)
    )
    lines.append(_visit_invoice_lines(rng, billed, basket, fa_visits["doc_key"].to_numpy()))

    # ---- yearly maintenance contracts, billed on the signup anniversary
    share = customers["profile"].map(CONTRACT_SHARE).fillna(0.08).to_numpy()
    holders = np.flatnonzero(rng.random(len(customers)) < share)
    contract_docs = _contract_invoices(config, customers, holders, rng, churn_day)
    if len(contract_docs):
        fa_contracts = new_documents(
            "FA", contract_docs["customer"].to_numpy(), contract_docs["created_utc"].to_numpy()
        )
        pro = customers["customer_type"].to_numpy()[fa_contracts["customer"]] == "professionnel"
        lines.append(
            _lines(fa_contracts["doc_key"].to_numpy(), np.where(pro, "CTR-PRO", "CTR-PART"), np.ones(len(pro)))
        )

    # ---- credit notes (commercial gestures after an invoice)
    invoices = pd.concat([d for d in documents if (d["prefix"] == "FA").all()], ignore_index=True)
    gesture = invoices[rng.random(len(invoices)) < CREDIT_NOTE_RATE]
    av = new_documents(
        "AV", gesture["customer"].to_numpy(), _office_instant(rng, gesture["created_utc"].to_numpy(), 5 * 24, 40 * 24),
        credited_key=gesture["doc_key"].to_numpy(),
    )  # fmt: skip
    lines.append(
        _lines(
            av["doc_key"].to_numpy(),
            np.full(len(av), "MO-DEP"),
            -np.ones(len(av)),
            np.round(rng.uniform(30, 150, len(av)), 2),
        )
    )

    all_documents = pd.concat(documents, ignore_index=True)
    for column in ("created_utc", "sent_utc", "accepted_utc"):
        all_documents[column] = all_documents[column].astype("datetime64[s]")
    all_lines = pd.concat(lines, ignore_index=True)
    all_documents, all_lines, anomalies = _plant_anomalies(rng, config, all_documents, all_lines)
    return Ledger(*_number(customers, all_documents, all_lines), anomalies)


def _contract_invoices(
    config: WorldConfig,
    customers: pd.DataFrame,
    holders: np.ndarray,
    rng: np.random.Generator,
    churn_day: np.ndarray | None = None,
) -> pd.DataFrame:
    rows = []
    signup = pd.to_datetime(customers["signup_date"]).to_numpy().astype("datetime64[D]")
    for year in range(config.warmup_start.year, config.horizon_end.year + 1):
        anniversary = np.array(
            [
                np.datetime64(f"{year}-{str(d)[5:10]}") if str(d)[5:10] != "02-29" else np.datetime64(f"{year}-02-28")
                for d in signup[holders]
            ]
        )
        rows.append(pd.DataFrame({"customer": holders, "date": anniversary}))
    table = pd.concat(rows, ignore_index=True)
    table = table[table["date"] >= signup[table["customer"]] + np.timedelta64(1, "D")]
    table = table[
        (table["date"] >= np.datetime64(config.warmup_start)) & (table["date"] <= np.datetime64(config.horizon_end))
    ]
    # A contract ends when the customer stops buying (dormancy) or leaves: no yearly invoice after that.
    first_day = np.datetime64(config.warmup_start, "D")
    ends = customers["dormancy_day"].to_numpy()
    if churn_day is not None:
        ends = np.minimum(ends, churn_day)
    table = table[
        table["date"].to_numpy().astype("datetime64[D]") < first_day + ends[table["customer"]].astype("timedelta64[D]")
    ]
    table = table.sort_values(["date", "customer"], kind="stable").reset_index(drop=True)
    created = paris_to_utc(
        table["date"].to_numpy().astype("datetime64[s]")
        + rng.integers(9 * 3600, 17 * 3600, len(table)).astype("timedelta64[s]")
    )
    return table.assign(created_utc=created)


def _plant_anomalies(
    rng: np.random.Generator, config: WorldConfig, documents: pd.DataFrame, lines: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Abnormal amounts, credit notes without an invoice, same-day duplicates, night-time weekend entries."""
    start = paris_to_utc(np.array([np.datetime64(config.start_date, "s")]))[0]
    end = paris_to_utc(np.array([np.datetime64(config.end_date, "s") + np.timedelta64(86400, "s")]))[0]
    visible = documents[
        (documents["prefix"] == "FA")
        & (documents["created_utc"] >= start)
        & (documents["created_utc"] < end - np.timedelta64(2, "D"))
    ]
    counts = {kind: max(1, round(rate * len(visible) / 1000)) for kind, rate in ANOMALIES_PER_1000_INVOICES.items()}
    picked = rng.choice(
        visible["doc_key"].to_numpy(),
        size=counts["erp_abnormal_amount"] + counts["erp_duplicate"] + counts["erp_night_weekend"],
        replace=False,
    )
    abnormal = picked[: counts["erp_abnormal_amount"]]
    duplicated = picked[counts["erp_abnormal_amount"] : counts["erp_abnormal_amount"] + counts["erp_duplicate"]]
    night = picked[counts["erp_abnormal_amount"] + counts["erp_duplicate"] :]
    records = []

    factor = rng.uniform(20, 50, len(abnormal))
    for key, f in zip(abnormal, factor, strict=True):
        lines.loc[lines["doc_key"] == key, "quantity"] = np.round(lines.loc[lines["doc_key"] == key, "quantity"] * f, 1)
        records.append(("erp_abnormal_amount", key, f"invoice about {f:.0f}x the customer's usual amount"))

    next_key = documents["doc_key"].max() + 1
    originals = documents[documents["doc_key"].isin(duplicated)].sort_values("doc_key")
    copies = originals.assign(
        doc_key=np.arange(next_key, next_key + len(originals)),
        created_utc=originals["created_utc"] + pd.to_timedelta(rng.integers(20, 600, len(originals)), unit="s"),
    )
    copy_of = dict(zip(originals["doc_key"], copies["doc_key"], strict=True))
    copied_lines = lines[lines["doc_key"].isin(duplicated)].assign(doc_key=lambda f: f["doc_key"].map(copy_of))
    for original, copy in copy_of.items():
        records.append(("erp_duplicate", copy, f"exact duplicate of invoice key {original}, same day"))
    next_key += len(copies)

    # Customers with invoices in the period, so the credit note's customer is one the ERP shows.
    credit_customers = rng.choice(
        np.unique(visible["customer"]), size=counts["erp_credit_without_invoice"], replace=False
    )
    span = (end - start).astype("int64")
    credit_created = _weekday_office(
        rng, start + (rng.integers(0, span - 3 * 86400, len(credit_customers))).astype("timedelta64[s]")
    )
    credits = pd.DataFrame(
        {
            "doc_key": np.arange(next_key, next_key + len(credit_customers)),
            "prefix": "AV",
            "customer": credit_customers,
            "created_utc": credit_created,
        }
    )
    credit_lines = _lines(
        credits["doc_key"].to_numpy(),
        np.full(len(credits), "MO-DEP"),
        -np.ones(len(credits)),
        np.round(rng.uniform(80, 400, len(credits)), 2),
    )
    for key in credits["doc_key"]:
        records.append(("erp_credit_without_invoice", key, "credit note that refers to no invoice"))

    documents = pd.concat([documents, copies, credits], ignore_index=True)
    lines = pd.concat([lines, copied_lines, credit_lines], ignore_index=True)
    for key in night:
        created = documents.loc[documents["doc_key"] == key, "created_utc"].to_numpy()
        wall_day = utc_to_paris(created).astype("datetime64[D]")
        to_saturday = (5 - pd.DatetimeIndex(wall_day).day_of_week.to_numpy()) % 7 + rng.integers(0, 2)
        night_wall = (wall_day + to_saturday.astype("timedelta64[D]")).astype("datetime64[s]") + rng.integers(
            3600, int(4.5 * 3600)
        ).astype("timedelta64[s]")
        documents.loc[documents["doc_key"] == key, "created_utc"] = paris_to_utc(night_wall)
        records.append(("erp_night_weekend", key, "document created at night during a weekend"))
    anomalies = pd.DataFrame(records, columns=["kind", "doc_key", "description"])
    return documents, lines, anomalies


def _weekday_office(rng: np.random.Generator, instants: np.ndarray) -> np.ndarray:
    wall_day = utc_to_paris(instants).astype("datetime64[D]")
    weekday = pd.DatetimeIndex(wall_day).day_of_week.to_numpy()
    wall_day = wall_day + np.where(weekday >= 5, 7 - weekday, 0).astype("timedelta64[D]")
    return paris_to_utc(
        wall_day.astype("datetime64[s]") + rng.integers(9 * 3600, 17 * 3600, len(instants)).astype("timedelta64[s]")
    )


def _number(customers: pd.DataFrame, documents: pd.DataFrame, lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sage piece numbers per prefix in creation order, totals, VAT and posting dates."""
    documents = documents.sort_values(["created_utc", "doc_key"], kind="stable").reset_index(drop=True)
    sequence = documents.groupby("prefix").cumcount() + 1
    documents["piece"] = documents["prefix"] + sequence.map("{:06d}".format)
    piece_of = dict(zip(documents["doc_key"], documents["piece"], strict=True))
    documents["do_type"] = documents["prefix"].map(DOC_TYPES)
    documents["posted_utc"] = np.where(
        documents["prefix"].isin(["FA", "AV"]),
        _posting_instant(documents["created_utc"].to_numpy()),
        np.datetime64("NaT"),
    )
    documents["do_date"] = utc_to_paris(documents["created_utc"].to_numpy()).astype("datetime64[D]")
    reference = (
        documents["reference"].astype(object)
        if "reference" in documents
        else pd.Series(None, index=documents.index, dtype=object)
    )
    credited = (
        documents["credited_key"].map(piece_of)
        if "credited_key" in documents
        else pd.Series(None, index=documents.index)
    )
    documents["reference"] = reference.where(reference.notna(), credited).where(lambda r: r.notna(), None)

    lines = lines.assign(
        amount=np.round(lines["quantity"] * lines["unit_price"], 2),
        designation=lines["ar_ref"].map(DESIGNATION),
        from_quote_piece=lines["from_quote"].map(piece_of) if "from_quote" in lines else None,
    )
    lines = lines.sort_values(["doc_key"], kind="stable")
    lines["line_no"] = (lines.groupby("doc_key").cumcount() + 1) * 1000
    totals = lines.groupby("doc_key")["amount"].sum()
    documents["total_ht"] = documents["doc_key"].map(totals).fillna(0).round(2)
    vat = np.where(customers["customer_type"].to_numpy()[documents["customer"]] == "professionnel", 0.20, 0.10)
    documents["total_ttc"] = np.round(documents["total_ht"] * (1 + vat), 2)
    lines["piece"] = lines["doc_key"].map(piece_of)
    lines["prefix"] = lines["piece"].str[:2]
    return documents, lines
