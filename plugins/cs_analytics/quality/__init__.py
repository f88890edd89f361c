"""The Great Expectations quality gate: suites from YAML, run as SQL on the warehouse, with
its results, Data Docs, row quarantine and history; `tasks` is what the transform DAG calls."""
