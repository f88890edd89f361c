"""Sage 100 ERP tables (PostgreSQL) into `raw_erp`, incrementally on `cbModification`.

- Raw tables mirror the source columns (lower-cased names, same types) plus lineage.
  Sage stores local Europe/Paris time without a zone; those columns become
  timestamptz here.
- Rows are streamed COPY-to-COPY (`COPY (select ...) TO STDOUT` on the ERP into
  `COPY ... FROM STDIN` on the warehouse): no per-row Python work. A first load into
  an empty table goes straight into it; later loads land in a temp table and are
  upserted on the Sage key, replacing a stored row only if the source row is newer or
  different, so re-runs change nothing.
- Reads start `ERP_LOOKBACK_MINUTES` before the watermark: a transaction that
  committed after our previous read began carries an older `cbModification` and
  would otherwise be missed.
- Schema drift: a new source column is added to the raw table; a column gone from
  the source loads as null unless it is required, which stops the load with a message
  naming the table and column.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from psycopg import sql

from cs_analytics.config import ERP_CONN_ID, LOCAL_TZ, IngestSettings
from cs_analytics.ingestion.batch import (
    FUTURE_TOLERANCE,
    BatchContext,
    LoadResult,
    MissingRequiredColumn,
    QuarantinedRow,
    advance_watermark,
    enforce_quarantine_rate,
    get_watermark,
    reconcile,
    record_batch,
    write_quarantine,
)
from cs_analytics.schema import ddl_transaction, ensure_schema
from cs_analytics.warehouse import Warehouse, create_schema_if_missing

log = logging.getLogger(__name__)

SOURCE = "erp"
SOURCE_SCHEMA = "dbo"
MODIFIED = "cbModification"
LINEAGE = ("_batch_id", "_loaded_at", "_source")


@dataclass(frozen=True)
class ErpTable:
    name: str
    key: tuple[str, ...]
    required: tuple[str, ...]

    @property
    def raw_table(self) -> str:
        return f"raw_erp.{self.name.lower()}"


TABLES = {
    t.name: t
    for t in (
        ErpTable(
            "F_COMPTET", ("CT_Num",), ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", MODIFIED)
        ),
        ErpTable("F_ARTICLE", ("AR_Ref",), ("AR_Ref", "AR_Design", "FA_CodeFamille", MODIFIED)),
        ErpTable(
            "F_DOCENTETE",
            ("DO_Domaine", "DO_Type", "DO_Piece"),
            ("DO_Domaine", "DO_Type", "DO_Piece", "DO_Date", "DO_Tiers", "DO_TotalHT", MODIFIED),
        ),
        ErpTable("F_DOCLIGNE", ("cbMarq",), ("cbMarq", "DO_Type", "DO_Piece", "AR_Ref", "DL_MontantHT", MODIFIED)),
        # General ledger: lines, their analytic split, journal periods (open / closed).
        ErpTable(
            "F_ECRITUREC",
            ("EC_No",),
            ("EC_No", "JO_Num", "JM_Date", "EC_Jour", "CG_Num", "EC_Sens", "EC_Montant", MODIFIED),
        ),
        ErpTable("F_ECRITUREA", ("cbMarq",), ("cbMarq", "EC_No", "N_Analytique", "CA_Num", "EA_Montant", MODIFIED)),
        ErpTable("F_JMOUV", ("JO_Num", "JM_Date"), ("JO_Num", "JM_Date", "JM_Cloture", MODIFIED)),
    )
}


@dataclass(frozen=True)
class SourceColumn:
    name: str
    pg_type: str

    @property
    def raw_name(self) -> str:
        return self.name.lower()

    @property
    def is_local_timestamp(self) -> bool:
        return self.pg_type.startswith("timestamp without time zone")

    @property
    def raw_type(self) -> str:
        return "timestamp with time zone" if self.is_local_timestamp else self.pg_type


def source_columns(erp: Warehouse, table: str) -> list[SourceColumn]:
    rows = erp.query(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (SOURCE_SCHEMA, table),
    )
    if not rows:
        raise LookupError(
            f"erp: table {SOURCE_SCHEMA}.{table} not found in the ERP database (connection '{ERP_CONN_ID}')"
        )
    return [SourceColumn(name, typ) for name, typ in rows]


def raw_column_types(warehouse: Warehouse, spec: ErpTable) -> dict[str, str]:
    schema, table = spec.raw_table.split(".")
    return dict(
        warehouse.query(
            """
            select a.attname, format_type(a.atttypid, a.atttypmod)
            from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped
            """,
            (schema, table),
        )
    )


def ensure_raw_table(warehouse: Warehouse, spec: ErpTable, columns: list[SourceColumn]) -> list[str]:
    """Create the raw table, or add the columns the source has gained. Returns the columns added."""
    schema, table = spec.raw_table.split(".")
    existing = raw_column_types(warehouse, spec)
    if not existing:
        cols = [sql.SQL("{} {}").format(sql.Identifier(c.raw_name), sql.SQL(c.raw_type)) for c in columns]
        cols += [
            sql.SQL("_batch_id text not null"),
            sql.SQL("_loaded_at timestamptz not null"),
            sql.SQL("_source text not null"),
        ]
        key = sql.SQL(", ").join(sql.Identifier(k.lower()) for k in spec.key)
        with ddl_transaction(warehouse) as conn:
            conn.execute(create_schema_if_missing(schema))
            conn.execute(
                sql.SQL("create table if not exists {}.{} ({}, primary key ({}))").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.SQL(", ").join(cols), key
                )
            )
            conn.execute(
                sql.SQL("create index if not exists {} on {}.{} ({})").format(
                    sql.Identifier(f"{table}_cbmodification"),
                    sql.Identifier(schema),
                    sql.Identifier(table),
                    sql.Identifier(MODIFIED.lower()),
                )
            )
        return []
    added = [c for c in columns if c.raw_name not in existing]
    if not added:
        return []
    with ddl_transaction(warehouse) as conn:
        for c in added:
            log.warning("erp.%s: new source column %s (%s) added to %s", spec.name, c.name, c.pg_type, spec.raw_table)
            conn.execute(
                sql.SQL("alter table {}.{} add column if not exists {} {}").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Identifier(c.raw_name), sql.SQL(c.raw_type)
                )
            )
    return [c.name for c in added]


def load_table(
    warehouse: Warehouse, erp: Warehouse, table: str, ctx: BatchContext, settings: IngestSettings | None = None
) -> LoadResult:
    settings = settings or IngestSettings.from_env()
    spec = TABLES[table]
    columns = source_columns(erp, table)
    names = {c.name for c in columns}
    for req in spec.required:
        if req not in names:
            raise MissingRequiredColumn(SOURCE, table, req, f"{SOURCE_SCHEMA}.{table}")
    ensure_schema(warehouse)
    added = ensure_raw_table(warehouse, spec, columns)
    raw_types = raw_column_types(warehouse, spec)
    binary = all(raw_types.get(c.raw_name) == c.raw_type for c in columns)
    result = LoadResult(source=SOURCE, object=table, batch_id=ctx.batch_id, detail={"columns_added": added})

    select_list = sql.SQL(", ").join(
        sql.SQL("({} at time zone {})").format(sql.Identifier(c.name), sql.Literal(LOCAL_TZ))
        if c.is_local_timestamp
        else sql.Identifier(c.name)
        for c in columns
    )
    lineage = sql.SQL("{}::text, {}::timestamptz, {}::text").format(
        sql.Literal(ctx.batch_id), sql.Literal(ctx.loaded_at), sql.Literal(f"{SOURCE_SCHEMA}.{table}")
    )
    target_cols = sql.SQL(", ").join(sql.Identifier(c) for c in [*(c.raw_name for c in columns), *LINEAGE])
    key_ok = sql.SQL(" and ").join(sql.SQL("{} is not null").format(sql.Identifier(k)) for k in spec.key)
    src = sql.SQL("{}.{}").format(sql.Identifier(SOURCE_SCHEMA), sql.Identifier(table))

    with warehouse.transaction() as conn, erp.connect() as econn:
        econn.execute("set time zone 'UTC'")  # timestamptz text out of the ERP carries an explicit offset
        econn.execute("set transaction isolation level repeatable read, read only")
        watermark = get_watermark(conn, SOURCE, table)
        since = None
        if watermark is not None:
            since = (min(watermark, ctx.interval_start) if ctx.interval_start else watermark) - settings.erp_lookback
        result.window_start, result.window_end = since, ctx.interval_end
        conds = []
        if since is not None:
            conds.append(
                sql.SQL("{} >= ({}::timestamptz at time zone {})").format(
                    sql.Identifier(MODIFIED), sql.Literal(since), sql.Literal(LOCAL_TZ)
                )
            )
        if ctx.interval_end is not None:
            conds.append(
                sql.SQL("{} < ({}::timestamptz at time zone {})").format(
                    sql.Identifier(MODIFIED), sql.Literal(ctx.interval_end), sql.Literal(LOCAL_TZ)
                )
            )
        window = sql.SQL(" and ").join(conds) if conds else sql.SQL("true")

        # Rows that cannot be keyed or tracked are quarantined, not loaded.
        # A null cbModification fails every window's comparison: such rows are picked out on their own.
        # So are rows modified in the future (a wrong clock): outside every window, they would never load.
        future = sql.SQL("{} > ({}::timestamptz at time zone {})").format(
            sql.Identifier(MODIFIED), sql.Literal(ctx.loaded_at + FUTURE_TOLERANCE), sql.Literal(LOCAL_TZ)
        )
        bad_rows = econn.execute(
            sql.SQL(
                "select row_to_json(s)::text, case when {future} then 'cbModification in the future' "
                "else 'null key or cbModification' end from {src} s "
                "where (({window}) and not ({key_ok})) or {mod} is null or {future}"
            ).format(src=src, window=window, key_ok=key_ok, mod=sql.Identifier(MODIFIED), future=future)
        ).fetchall()
        quarantined = [
            QuarantinedRow(f"{SOURCE_SCHEMA}.{table}#row{i}", reason, r) for i, (r, reason) in enumerate(bad_rows)
        ]

        table_empty = conn.execute(
            sql.SQL("select not exists (select 1 from {})").format(sql.SQL(spec.raw_table))
        ).fetchone()[0]
        key_cols = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
        if (
            table_empty
            and econn.execute(
                sql.SQL("select exists (select 1 from {} where ({}) and {} group by {} having count(*) > 1)").format(
                    src, window, key_ok, key_cols
                )
            ).fetchone()[0]
        ):
            table_empty = False  # a key twice at the source: through the upsert, which keeps one and reports the rest
        superseded: list[QuarantinedRow] = []
        target = sql.SQL(spec.raw_table) if table_empty else sql.SQL("_erp_in")
        with conn.cursor() as cur:
            if not table_empty:
                cur.execute(
                    sql.SQL("create temp table _erp_in (like {}) on commit drop").format(sql.SQL(spec.raw_table))
                )
            # Binary COPY skips text parsing on both servers; it needs identical column types.
            fmt = sql.SQL("(format binary)" if binary else "")
            out_q = sql.SQL("copy (select {}, {} from {} where ({}) and {} and {} is not null) to stdout {}").format(
                select_list, lineage, src, window, key_ok, sql.Identifier(MODIFIED), fmt
            )
            in_q = sql.SQL("copy {} ({}) from stdin {}").format(target, target_cols, fmt)
            with econn.cursor() as ecur, ecur.copy(out_q) as out_copy, cur.copy(in_q) as in_copy:
                for chunk in out_copy:
                    in_copy.write(chunk)
            if table_empty:
                n = conn.execute(
                    sql.SQL("select count(*), max({}) from {} where _batch_id = {}").format(
                        sql.Identifier(MODIFIED.lower()), sql.SQL(spec.raw_table), sql.Literal(ctx.batch_id)
                    )
                ).fetchone()
                result.rows_read, result.rows_inserted, max_mod = n[0], n[0], n[1]
            else:
                result.rows_read, max_mod = cur.execute(
                    sql.SQL("select count(*), max({}) from _erp_in").format(sql.Identifier(MODIFIED.lower()))
                ).fetchone()
                superseded = _duplicate_keys(cur, spec, table)
                inserted, updated = _upsert(cur, spec, [c.raw_name for c in columns])
                result.rows_inserted, result.rows_updated = inserted, updated
                result.rows_unchanged = result.rows_read - len(superseded) - inserted - updated
        # Counted in the same snapshot as the read: every row the load answers for is loaded or quarantined.
        source_count = econn.execute(
            sql.SQL("select count(*) from {} where ({}) or {} is null or {}").format(
                src, window, sql.Identifier(MODIFIED), future
            )
        ).fetchone()[0]
        reconcile(warehouse, ctx, "window", source_count, result.rows_read, len(quarantined))
        quarantined += superseded  # read (counted above), not loaded
        result.rows_read += len(quarantined) - len(superseded)
        result.rows_quarantined = write_quarantine(conn, ctx, quarantined)
        advance_watermark(conn, SOURCE, table, max_mod, ctx.batch_id)
        result.watermark = max(filter(None, (watermark, max_mod)), default=None)
        record_batch(conn, ctx, result)

    log.info("%s", result.summary())
    enforce_quarantine_rate(result, settings.quarantine_max_rate)
    return result


def _duplicate_keys(cur, spec: ErpTable, table: str) -> list[QuarantinedRow]:
    """Rows read whose key comes again with a later cbModification (or, on a tie, later in the read):
    the upsert keeps the latest of each key; these are quarantined, keyed by key and modification."""
    key = [k.lower() for k in spec.key]
    order = sql.SQL("{} desc, ctid desc").format(sql.Identifier(MODIFIED.lower()))
    cur.execute(
        sql.SQL(
            "select row_to_json(t)::text, concat_ws('|', {keys}) || '@' || {mod}::text from ("
            "select *, row_number() over (partition by {keys} order by {order}) as _rank from _erp_in) t "
            "where _rank > 1"
        ).format(
            keys=sql.SQL(", ").join(sql.Identifier(k) for k in key), mod=sql.Identifier(MODIFIED.lower()), order=order
        )  # fmt: skip
    )
    return [
        QuarantinedRow(
            f"{SOURCE_SCHEMA}.{table}#{where}",
            f"duplicate key {where.split('@')[0]}: a later row with the same key was loaded instead",
            raw,
        )
        for raw, where in cur.fetchall()
    ]


def _upsert(cur, spec: ErpTable, business_cols: list[str]) -> tuple[int, int]:
    key = [k.lower() for k in spec.key]
    all_cols = [*business_cols, *LINEAGE]
    ident = lambda names: sql.SQL(", ").join(sql.Identifier(n) for n in names)  # noqa: E731
    changed = sql.SQL("({}) is distinct from ({})").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in business_cols),
        sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in business_cols),
    )
    cur.execute(
        sql.SQL(
            """
        with ins as (
            insert into {raw} as t ({cols})
            select distinct on ({key}) {cols} from _erp_in order by {key}, {modified} desc, ctid desc
            on conflict ({key}) do update set {sets}
            where t.{modified} <= excluded.{modified} and {changed}
            returning (xmax = 0) as inserted
        )
        select count(*) filter (where inserted), count(*) filter (where not inserted) from ins
        """
        ).format(
            raw=sql.SQL(spec.raw_table),
            cols=ident(all_cols),
            key=ident(key),
            modified=sql.Identifier(MODIFIED.lower()),
            changed=changed,
            sets=sql.SQL(", ").join(
                sql.SQL("{} = excluded.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in all_cols
                if c not in key
            ),
        )
    )
    return cur.fetchone()
