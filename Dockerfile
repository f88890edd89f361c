# The project image: Airflow 3.3 with this repository's pinned dependencies.
FROM apache/airflow:3.3.2-python3.11

USER root
# The Great Expectations Data Docs and dbt target folders are written at run time.
RUN mkdir -p /opt/project && chown airflow: /opt/project
USER airflow

COPY --chown=airflow: requirements.txt constraints.txt /opt/project/
RUN pip install --no-cache-dir -r /opt/project/requirements.txt -c /opt/project/constraints.txt

COPY --chown=airflow: . /opt/project
WORKDIR /opt/project
ENV PYTHONPATH=/opt/project:/opt/project/plugins \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/project/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/project/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    DBT_PROFILES_DIR=/opt/project/dbt_project
# Cosmos renders the transformation DAG from the manifest: build it into the image.
RUN WAREHOUSE_HOST=x WAREHOUSE_PORT=5432 WAREHOUSE_USER=x WAREHOUSE_PASSWORD=x WAREHOUSE_DB=x \
    dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project
