# Superset for the dashboards, the same pinned tree as `make bi` (.venv-bi), with the
# project's configuration. Provisioning (bi/*.yaml) runs from the project image.
FROM python:3.11-slim

RUN useradd --create-home superset
COPY requirements-bi.txt constraints-bi.txt /opt/bi/
RUN pip install --no-cache-dir -r /opt/bi/requirements-bi.txt -c /opt/bi/constraints-bi.txt
COPY bi/superset_config.py /opt/bi/superset_config.py
ENV SUPERSET_CONFIG_PATH=/opt/bi/superset_config.py \
    FLASK_APP=superset
USER superset
EXPOSE 8088
CMD ["gunicorn", "--bind", "0.0.0.0:8088", "--workers", "2", "--threads", "4", "--worker-class", "gthread", \
     "--timeout", "120", "superset.app:create_app()"]
