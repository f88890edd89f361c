"""Ingestion: one client + loader per source system, what every load shares (`batch`), and the
task entry points the ingest DAGs call (`tasks`)."""
