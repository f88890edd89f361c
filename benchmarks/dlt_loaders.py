#!/usr/bin/env python3
"""The dlt side of benchmarks/loaders_vs_dlt.py: runs in .venv-dlt (dlt 1.31), never in the project's venv.

What a user picking dlt would write, with the guarantees dlt offers closest to ours:
- `cdr FOLDER URL`: every CDR file (`;`-separated, local Europe/Paris times) read with pyarrow,
  start/end localised, an incremental cursor on the file name, merge on `call_id`;
- `crm BASE_URL TOKEN OBJECT URL`: one CRM object type paged from /crm/v3/objects/<object>
  (HubSpot's `after` cursor, the same page size as our client), an incremental cursor on
  `updatedAt`, merge on `id` (dlt flattens `properties` into columns).
Prints one JSON line: rows, seconds, peak RSS of this process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import requests


def cdr_resource(folder: Path):
    @dlt.resource(name="calls", write_disposition="merge", primary_key="call_id")
    def calls(file_name=dlt.sources.incremental("file_name", initial_value="")):  # noqa: B008 (dlt's idiom)
        for path in sorted(folder.glob("cdr_*.csv")):
            if path.name <= (file_name.start_value or ""):
                continue
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=";"),
                convert_options=pacsv.ConvertOptions(
                    column_types={
                        "start_time": pa.timestamp("s"),
                        "end_time": pa.timestamp("s"),
                        "caller_number": pa.string(),
                        "called_number": pa.string(),
                        "agent_id": pa.string(),
                    },  # fmt: skip
                    strings_can_be_null=True,
                ),
            )
            for col in ("start_time", "end_time"):
                local = pc.assume_timezone(table[col], "Europe/Paris", ambiguous="earliest", nonexistent="earliest")
                table = table.set_column(table.schema.get_field_index(col), col, local)
            yield table.append_column("file_name", pa.array([path.name] * table.num_rows))

    return calls


def crm_resource(base_url: str, token: str, object_type: str):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    @dlt.resource(name=object_type, write_disposition="merge", primary_key="id")
    def objects(updated=dlt.sources.incremental("updatedAt", initial_value="1970-01-01T00:00:00Z")):  # noqa: B008
        props = session.get(f"{base_url}/crm/v3/properties/{object_type}", timeout=30).json()["results"]
        params = {"limit": 100, "properties": ",".join(p["name"] for p in props), "archived": "false"}
        after = None
        while True:
            page = session.get(
                f"{base_url}/crm/v3/objects/{object_type}", params={**params, **({"after": after} if after else {})},
                timeout=30,
            )  # fmt: skip
            page.raise_for_status()
            body = page.json()
            yield body.get("results", [])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    return objects


def main() -> int:
    kind, *args = sys.argv[1:]
    url = args[-1]
    with tempfile.TemporaryDirectory(prefix="dlt_bench_") as pipelines_dir:
        if kind == "cdr":
            source, dataset, table, fmt = cdr_resource(Path(args[0])), "raw_cti_dlt", "calls", "csv"
        else:
            source, dataset, table, fmt = crm_resource(args[0], args[1], args[2]), "raw_crm_dlt", args[2], None
        pipeline = dlt.pipeline(
            pipeline_name=f"bench_{kind}",
            destination=dlt.destinations.postgres(credentials=url),
            dataset_name=dataset,
            pipelines_dir=pipelines_dir,
        )
        start = time.perf_counter()
        pipeline.run(source, loader_file_format=fmt) if fmt else pipeline.run(source)
        seconds = time.perf_counter() - start
        with pipeline.sql_client() as client:
            rows = client.execute_sql(f"select count(*) from {dataset}.{table}")[0][0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": round(peak_mb, 1), "dlt": dlt.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
