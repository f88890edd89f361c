"""Transformation: how Airflow runs the dbt project, the BI tools' read-only access, write-audit-publish of the marts."""
