"""Transformation: how Airflow runs the dbt project, and the BI tools' read-only access."""
