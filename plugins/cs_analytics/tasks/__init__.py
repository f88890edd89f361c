"""Task callables: what a DAG's @task bodies call. Each takes plain values (and the
Airflow context where it needs the run's identity) so it can be tested without a DAG."""
