"""The reliability suite's table: faults tried and survived, bad inputs handled, rows lost or
duplicated, alerts lost or doubled. Reads what the tests in tests/reliability left in
build/reliability/ (run `make test-reliability`), prints the Markdown table kept in the README
and writes build/reliability/report.md and report.json."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "build" / "reliability"


def _load(folder: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((RESULTS / folder).glob("*.json"))]


def main() -> int:
    faults, inputs = _load("faults"), _load("inputs")
    idem = json.loads((RESULTS / "idempotence.json").read_text()) if (RESULTS / "idempotence.json").exists() else None
    lines = [
        "### Faults injected and overlapping runs (each compared with a fault-free run of the same interval; "
        "a fault followed by Airflow's retries)",
        "",
    ]
    lines += ["| fault | attempts | rows expected | rows after | lost | duplicated | alerts lost | alerts doubled | survived |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    survived = 0
    for f in faults:
        if "alerts_expected" in f:
            got = f.get("emails", 0) + f.get("slack", 0) + f.get("crm_tasks", 0)  # messages that reached people
            lost, doubled = max(0, f["alerts_expected"] - got), max(0, got - f["alerts_expected"])
            ok = not lost and not doubled
            lines.append(f"| {f['fault']} ({f['detail']}) | {f['attempts']} | - | - | - | - | {lost} | {doubled} | "
                         f"{'yes' if ok else 'NO'} |")  # fmt: skip
        else:
            lost = max(0, f["rows_expected"] - f["distinct"])
            dup = f["rows"] - f["distinct"] + max(0, f["distinct"] - f["rows_expected"])
            ok = f["identical"] and not lost and not dup
            lines.append(f"| {f['fault']} ({f['detail']}) | {f['attempts']} | {f['rows_expected']} | {f['rows']} | "
                         f"{lost} | {dup} | - | - | {'yes' if ok else 'NO'} |")  # fmt: skip
        survived += ok
    lines += ["", f"{survived} of {len(faults)} faults survived.", ""]

    lines += ["### Bad inputs (tests/reliability/corpus, through the production loaders)", ""]
    lines += ["| source | inputs | loaded | quarantined | refused | as expected | rows lost | unrelated rows lost |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    totals: Counter = Counter()
    for source in sorted({i["source"] for i in inputs}):
        mine = [i for i in inputs if i["source"] == source]
        verdicts = Counter(i["verdict"] for i in mine)
        as_expected = sum(i["verdict"] == i["expected"] for i in mine)
        lost = sum(i["dropped"] for i in mine)
        unrelated = sum(
            max(0, i["companions_expected"] - i["companions_loaded"]) for i in mine if i["verdict"] != "refused"
        )
        row = Counter(inputs=len(mine), loaded=verdicts["loaded"], quarantined=verdicts["quarantined"],
                      refused=verdicts["refused"], as_expected=as_expected, lost=lost, unrelated=unrelated)  # fmt: skip
        totals.update(row)
        lines.append(f"| {source} | {row['inputs']} | {row['loaded']} | {row['quarantined']} | {row['refused']} | "
                     f"{row['as_expected']} | {row['lost']} | {row['unrelated']} |")  # fmt: skip
    lines.append(f"| **all** | {totals['inputs']} | {totals['loaded']} | {totals['quarantined']} | {totals['refused']} | "
                 f"{totals['as_expected']} | {totals['lost']} | {totals['unrelated']} |")  # fmt: skip
    gaps = [i for i in inputs if i["gap"]]
    if gaps:
        lines += ["", "Not handled yet (the corpus states today's behaviour):", ""]
        lines += [f"- `{i['input']}` ({i['what']}): {i['gap']}" for i in gaps]
    lines.append("")
    lines += ["### Idempotence (three runs for one interval; per table a row count and a business-column checksum)", ""]
    ingest_path = RESULTS / "ingestion_idempotence.json"
    if ingest_path.exists():
        ing = json.loads(ingest_path.read_text())
        changed = ing["tables_changed"]
        lines.append(f"- every ingestion task of the six sources (their Airflow entry points): {ing['tables']} tables, "
                     f"{ing['rows']} rows; {len(changed)} table(s) differed between runs"
                     + (f" ({', '.join(changed)})" if changed else "") + ".")  # fmt: skip
    else:
        lines.append("- ingestion tasks: not run")
    if idem:
        lines.append("- every DAG of the pipeline through `airflow dags test`: ")
        changed = idem["tables_changed"]
        lines[-1] += (f"{idem['tables']} tables, {idem['rows']} rows: {len(changed)} table(s) differed between runs"
                     + (f" ({', '.join(changed)})" if changed else "") + f"; alerts per run (cumulative): "
                     f"{idem['deliveries_per_run']}.")  # fmt: skip
    else:
        lines.append("- every DAG of the pipeline through `airflow dags test` (test_idempotence.py): not run")
    report = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.md").write_text(report)
    (RESULTS / "report.json").write_text(
        json.dumps({"faults": faults, "inputs": inputs, "idempotence": idem}, indent=1)
    )
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
