"""The Airflow-facing side of `ml_tasks/`: read the feature marts, call the pure models, write the
`ml` schema, keep models in the registry (`registry.py`). One module per model family."""
