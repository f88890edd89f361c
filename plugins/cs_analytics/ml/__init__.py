"""The Airflow-facing side of the models: read the feature marts, call the pure models in
`ml_tasks/`, write the results to the `ml` schema."""
