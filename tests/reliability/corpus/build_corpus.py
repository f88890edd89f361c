"""Writes the bad-input corpus (the files next to this script); manifest.yaml says what each must become.

The files are committed: this script documents how the awkward ones (encodings, NUL bytes, a
200 kB line, a cut last line) were made, and rebuilds them identically:
    scripts/run.sh python tests/reliability/corpus/build_corpus.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
HEADER = (
    "call_id;start_time;end_time;caller_number;called_number;direction;queue;wait_seconds;talk_seconds;"
    "outcome;agent_id;agent_name"
)


def row(call_id, start, end, wait="12", talk="240", agent="Claire Martin", direction="inbound", outcome="answered"):
    return f"{call_id};{start};{end};+33612345678;+33478000000;{direction};SAV;{wait};{talk};{outcome};201;{agent}"


def day_rows(day: str, n: int = 2, **kw) -> list[str]:
    return [
        row(f"{day}-{i}", f"{day} 09:0{i}:00", f"{day} 09:0{i}:{12 + 4 * i}", talk=str(12 + 4 * i), wait="0", **kw)
        for i in range(n)
    ]


def cdr(rows: list[str], header: str = HEADER, eol: str = "\n") -> str:
    return eol.join([header, *rows]) + eol


def write(rel: str, content: str | bytes, encoding: str = "utf-8") -> None:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))


def cti() -> None:
    write("cti/cdr_20250110.csv", cdr(day_rows("2025-01-10", 3)))  # the unrelated good file loaded beside each input
    write("cti/cdr_20250111.csv", cdr(day_rows("2025-01-11", agent="Hélène Lefèvre")), "cp1252")
    write("cti/cdr_20250112.csv", cdr(day_rows("2025-01-12", agent="François Garçon")), "latin-1")
    write("cti/cdr_20250113.csv", b"\xef\xbb\xbf" + cdr(day_rows("2025-01-13", agent="Zoé Œuvrard")).encode())
    write("cti/cdr_20250114.csv", cdr(day_rows("2025-01-14"), eol="\r\n"))
    write("cti/cdr_20250115.csv", b"")
    write("cti/cdr_20250116.csv", HEADER + "\n")
    long = "X" * 200_000
    write("cti/cdr_20250117.csv", cdr([*day_rows("2025-01-17"), long]))
    write(
        "cti/cdr_20250118.csv",
        cdr(
            [
                *day_rows("2025-01-18", 1, agent='=HYPERLINK("http://evil.example/x","Bonus")'),
                row(
                    "inj-2",
                    "2025-01-18 10:00:00",
                    "2025-01-18 10:01:00",
                    talk="60",
                    wait="0",
                    agent="@SUM(1+1)*cmd|' /C calc'!A0",
                ),
            ]
        ),
    )
    write("cti/cdr_20250119.csv", cdr(day_rows("2025-01-19", 1, agent="Robert'); drop table raw_cti.calls; --")))
    write(
        "cti/cdr_20250120.csv",
        cdr([*day_rows("2025-01-20"), row("fut-1", "2031-01-20 09:00:00", "2031-01-20 09:01:00", talk="60", wait="0")]),
    )
    write(
        "cti/cdr_20250121.csv",
        cdr(
            [*day_rows("2025-01-21"), row("neg-1", "2025-01-21 10:00:00", "2025-01-21 09:59:00", talk="-60", wait="0")]
        ),
    )
    write(
        "cti/cdr_20250122.csv",
        cdr([*day_rows("2025-01-22"), row("rev-1", "2025-01-22 10:00:00", "2025-01-22 09:00:00", talk="60", wait="0")]),
    )
    write(
        "cti/cdr_20250330.csv",
        cdr(
            [
                row("gap-ok", "2025-03-30 01:50:00", "2025-03-30 01:51:00", talk="60", wait="0"),
                row("gap-1", "2025-03-30 02:30:00", "2025-03-30 02:31:00", talk="60", wait="0"),
                row("gap-after", "2025-03-30 03:10:00", "2025-03-30 03:11:00", talk="60", wait="0"),
            ]
        ),
    )
    # The autumn hour twice: 02:40 summer time, then the clock goes back and 02:10 is winter time.
    write(
        "cti/cdr_20251026.csv",
        cdr(
            [
                row("oct-1", "2025-10-26 02:40:00", "2025-10-26 02:41:00", talk="60", wait="0"),
                row("oct-2", "2025-10-26 02:10:00", "2025-10-26 02:11:00", talk="60", wait="0"),
            ]
        ),
    )
    write(
        "cti/cdr_20250123.csv",
        cdr([*day_rows("2025-01-23"), row("2025-01-23-0", "2025-01-23 11:00:00", "2025-01-23 11:05:00", talk="300")]),
    )
    write(
        "cti/cdr_20250124.csv",
        cdr(
            [";".join(f for i, f in enumerate(r.split(";")) if i != 8) for r in day_rows("2025-01-24")],
            header=HEADER.replace(";talk_seconds", ""),
        ),
    )
    write(
        "cti/cdr_20250125.csv",
        cdr(
            [
                *day_rows("2025-01-25"),
                row(
                    "enum-1",
                    "2025-01-25 10:00:00",
                    "2025-01-25 10:01:00",
                    talk="60",
                    wait="0",
                    direction="sideways",
                    outcome="teleported",
                ),
            ]
        ),
    )
    write(
        "cti/cdr_20250126.csv",
        cdr(
            [
                *day_rows("2025-01-26"),
                row("type-1", "2025-01-26 10:00:00", "2025-01-26 10:01:00", talk="1 min", wait="abc"),
            ]
        ),
    )
    write("cti/cdr_20250127.csv", cdr(day_rows("2025-01-27")) + row("cut-1", "2025-01-27 10:00:00", "2025-01-27 10:0"))
    write(
        "cti/cdr_20250128.csv",
        cdr(day_rows("2025-01-28")).encode()
        + row("nul-1", "2025-01-28 10:00:00", "2025-01-28 10:01:00", talk="60", wait="0")
        .replace("Claire", "Cl\x00aire")
        .encode()
        + b"\n",
    )
    write("cti/cdr_20250129.csv", cdr([r + ";extra-value" for r in day_rows("2025-01-29")], header=HEADER + ";site"))
    write("cti/calls_export_final.csv", cdr(day_rows("2025-01-30")))
    write("cti/cdr_20250131.csv", cdr([*day_rows("2025-01-31"), "2025-01-31-9;2025-01-31 10:00:00"]))


def contact(i: int, **props) -> dict:
    ts = f"2025-03-01T10:{i:02d}:00Z"
    base = {
        "email": f"c{i}@example.fr",
        "phone": "+33612345678",
        "statut_client": "actif",
        "lastmodifieddate": ts,
        "createdate": ts,
        "firstname": f"P{i}",
    }
    return {"id": str(900 + i), "created_at": ts, "updated_at": ts, "properties": {**base, **props}}


def crm() -> None:
    # Each file: the records as the CRM store holds them (properties as the API will serve them).
    files = {
        "crm/companions.json": [contact(i) for i in range(5)],
        "crm/epoch_millis_timestamp.json": [contact(10, lastmodifieddate="1740826800000")],
        "crm/unparsable_timestamp.json": [contact(11, lastmodifieddate="hier après-midi")],
        "crm/formula_injection_name.json": [
            contact(
                12,
                firstname='=HYPERLINK("http://evil.example","Cliquez")',
                lastname="'; delete from raw_crm.contacts; --",
            )
        ],
        "crm/future_modification.json": [
            contact(13, lastmodifieddate="2031-03-01T10:00:00Z", createdate="2031-03-01T10:00:00Z")
        ],
        "crm/unknown_enum.json": [contact(14, statut_client="zombie")],
        "crm/property_changes_type.json": [contact(15, phone=33612345678), contact(16, phone=["+33612345678"])],
        "crm/unexpected_nesting.json": [contact(17, statut_client={"value": "actif", "since": "2024"})],
        "crm/missing_required_property.json": {"drop_from_catalogue": ["statut_client"], "records": [contact(18)]},
        "crm/timestamp_without_zone.json": [contact(19, lastmodifieddate="2025-03-01T10:00:00")],
    }
    for rel, body in files.items():
        write(rel, json.dumps(body, ensure_ascii=False, indent=1) + "\n")


def intervention(i: int, **fields) -> dict:
    ts = f"2025-03-01T{10 + i % 10:02d}:{i // 10:02d}:00Z"
    return {
        "id": f"INT-{i:06d}",
        "updated_at": ts,
        "created_at": ts,
        "technician_id": "TECH-01",
        "customer_code": f"CL{i:06d}",
        "type": "breakdown",
        "status": "done",
        "scheduled_start": "2025-03-01T09:00:00+01:00",
        **fields,
    }


def mobile_app() -> None:
    # Each file: the interventions as the API serves them, as text (so NaN, which Python writes, can be there).
    files = {
        "mobile_app/companions.json": [intervention(i) for i in range(5)],
        "mobile_app/empty_required_field.json": [intervention(20, customer_code="")],
        "mobile_app/nan_amount.json": [intervention(21, amount_ht=float("nan"))],
        "mobile_app/unexpected_nesting.json": [intervention(22, technician_id={"id": "TECH-01", "team": "Nord"})],
        "mobile_app/property_changes_type.json": [intervention(23, technician_id=1017)],
        "mobile_app/timestamp_without_zone.json": [intervention(24, updated_at="2025-03-01T12:00:00")],
        "mobile_app/unknown_enum.json": [intervention(25, status="vaporised", type="alien")],
        "mobile_app/conflicting_duplicates.json": [
            intervention(26, status="done"),
            intervention(26, status="cancelled"),
        ],
        "mobile_app/formula_injection.json": [intervention(27, customer_code='=HYPERLINK("http://evil.example","x")')],
        "mobile_app/missing_field_in_payload.json": [
            {k: v for k, v in intervention(28).items() if k != "scheduled_start"}
            | {"updated_at": "2025-03-01T00:00:00Z"}
        ],
    }
    for rel, body in files.items():
        write(rel, json.dumps(body, ensure_ascii=False, indent=1, allow_nan=True) + "\n")


def erp() -> None:
    # Each file: SQL run against the Sage database after the companions are in (rows, or a schema change).
    ins = (
        'insert into dbo."F_COMPTET" ("CT_Num", "CT_Intitule", "CT_Telephone", "CT_EMail", "CT_Sommeil", '
        '"cbModification") values '
    )
    files = {
        "erp/null_key.sql": ins + "(null, 'Sans numéro', '0478000000', 'a@b.fr', 0, '2025-06-01 10:00:00');",
        "erp/null_modification.sql": ins + "('CL900002', 'Sans date', '0478000000', 'a@b.fr', 0, null);",
        "erp/conflicting_duplicate_key.sql": ins
        + "('CL900003', 'Dupont SARL', '0478000000', 'a@b.fr', 0, '2025-06-01 10:00:00'),"
        " ('CL900003', 'Durand SA', '0478111111', 'd@b.fr', 0, '2025-06-01 11:00:00');",
        "erp/missing_required_column.sql": 'alter table dbo."F_COMPTET" drop column "CT_EMail";',
        "erp/formula_injection.sql": ins + "('CL900005', '=HYPERLINK(\"http://evil.example\",\"x\")', '+33 4 78', "
        "'a@b.fr', 0, '2025-06-01 10:00:00');",
        "erp/dst_gap_and_repeat.sql": ins + "('CL900006', 'Gap', '0', 'a@b.fr', 0, '2025-03-30 02:30:00'),"
        " ('CL900007', 'Repeat', '0', 'a@b.fr', 0, '2025-10-26 02:30:00');",
        "erp/future_modification.sql": ins + "('CL900008', 'Futur', '0', 'a@b.fr', 0, '2031-06-01 10:00:00');",
        "erp/column_changes_type.sql": 'alter table dbo."F_COMPTET" alter column "CT_Sommeil" type text;'
        + "\n"
        + ins
        + "('CL900009', 'Type', '0', 'a@b.fr', 'oui', '2025-06-01 10:00:00');",
        "erp/new_column.sql": 'alter table dbo."F_COMPTET" add column "CT_Siret" varchar(15);'
        + "\n"
        + ins.replace('"cbModification")', '"cbModification", "CT_Siret")')
        + "('CL900010', 'Siret', '0', 'a@b.fr', 0, '2025-06-01 10:00:00', '12345678900011');",
        "erp/control_characters.sql": ins + "('CL900011', E'Ligne1\\nLigne2\\tTab;\"quote\"', '0', 'a@b.fr', 0, "
        "'2025-06-01 10:00:00');",
    }
    for rel, body in files.items():
        write(rel, body + "\n")


if __name__ == "__main__":
    cti()
    crm()
    mobile_app()
    erp()
