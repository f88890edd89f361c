# Two commands do everything on a fresh machine with Python 3.11 and the
# PostgreSQL 15 server binaries: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# Every recipe that needs settings runs through scripts/run.sh, which exports
# the local defaults (scripts/stack.py env) without overriding what is already set.
RUN := scripts/run.sh

.PHONY: help install demo test ui stop up airflow-db dbt-parse warehouse-up warehouse-roles warehouse-down simulators-up simulators-down \
        generate pipeline summary lint lock clean status benchmarks docs test-reliability

help:
	@echo "make demo   - install, start the warehouse and simulators, run the whole pipeline through Airflow, print a summary"
	@echo "make test   - install and run the test suite (starts the local warehouse and simulators it needs)"
	@echo "make ui     - Airflow UI on http://localhost:$${AIRFLOW_UI_PORT:-8080} with the project's DAGs"
	@echo "make bi     - Superset dashboards on http://localhost:$${BI_PORT:-8088} (run make demo first for data)"
	@echo "make celery - the daily ingestion under CeleryExecutor with two workers (Redis), watchable in the UI"
	@echo "make test-reliability - the reliability suite (bad inputs, faults, three re-runs of the pipeline) and its table"
	@echo "make stop   - stop everything the project started (Superset, Airflow UI, simulators, sinks, warehouse)"
	@echo "make status - what is running"

$(STAMP): requirements.txt constraints.txt
	@scripts/install.sh "$(PYTHON)" "$(VENV)"
	@touch $(STAMP)

install: $(STAMP)

warehouse-up:
	@$(RUN) python3 scripts/stack.py pg-up

warehouse-down:
	@$(RUN) python3 scripts/stack.py pg-down

generate: install warehouse-up
	@$(RUN) python -m simulators generate

simulators-up: install warehouse-up
	@$(RUN) python3 scripts/stack.py services-up

simulators-down:
	@$(RUN) python3 scripts/stack.py services-down

dbt-parse: install
	@$(RUN) dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project

airflow-db: install warehouse-up
	@$(RUN) bash -c 'mkdir -p "$$AIRFLOW_HOME" && airflow db migrate > "$$AIRFLOW_HOME/db_migrate.log" 2>&1 \
	  || { tail -20 "$$AIRFLOW_HOME/db_migrate.log"; exit 1; }'
	@echo "[airflow] metadata database ready"

# the warehouse's flow roles (plugins/cs_analytics/roles.py; a flow's first run would do it too)
warehouse-roles: install warehouse-up
	@$(RUN) python -m cs_analytics.roles > /dev/null && echo "[warehouse] flow roles ready"

up: install warehouse-up simulators-up airflow-db dbt-parse warehouse-roles

demo: up
	@$(RUN) python scripts/demo.py

# Two pytest-xdist workers: most tests wait on a subprocess or the database half the time, so two
# at once take about a fifth off the suite on 2 cores (the Airflow-metadata group is the long pole;
# tests/conftest.py keeps what shares state on one worker).
TEST_WORKERS ?= 2
test: up install-bi browser redis lint
	@$(RUN) python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

ui: up
	@$(RUN) python3 scripts/stack.py ui-up

# Long reliability runs (pipeline re-runs, injected faults) and the results table kept in the README.
test-reliability: up
	@rm -rf build/reliability
	@$(RUN) python -m pytest -o addopts="-ra --strict-markers" tests/reliability $(PYTEST_ARGS)
	@$(RUN) python scripts/reliability_report.py

stop:
	@$(RUN) python3 scripts/stack.py down

status:
	@$(RUN) python3 scripts/stack.py status

# The strict CI's static checks (make test runs them first): ruff's rules and format on the Python,
# sqlfluff (rules in dbt_project/.sqlfluff, jinja templater: no warehouse needed) on the dbt models.
# Each failure names the file, line and rule. `dbt source freshness` runs in the test suite on a
# loaded warehouse (tests/integration/test_dbt_source_freshness.py).
lint: install
	@$(RUN) ruff check dags plugins ml_tasks simulators scripts benchmarks tests
	@$(RUN) ruff format --check dags plugins ml_tasks simulators scripts benchmarks tests
	@$(RUN) sqlfluff lint dbt_project/models --disable-progress-bar --processes 2

benchmarks: up install-bi browser
	@$(RUN) python benchmarks/run_all.py

# `make bench` = every benchmark (about an hour); `make bench QUICK=1` = the quick ones (a few minutes).
# Both write benchmarks/results/*.json and the summary table the README shows.
.PHONY: bench
bench: up $(if $(QUICK),,install-bi browser install-dlt)
	@$(RUN) nice python benchmarks/run_all.py $(if $(QUICK),--quick)

# Refresh constraints.txt (the full pinned tree) from a clean venv built from requirements.txt.
lock:
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install -q --upgrade pip \
	 && .lock-venv/bin/pip install -q -r requirements.txt && .lock-venv/bin/pip check \
	 && .lock-venv/bin/pip freeze | grep -v '^-e' > constraints.txt && rm -rf .lock-venv

clean:
	@python3 scripts/stack.py clean
	rm -rf .local build $(VENV) $(BI_VENV)

# dbt's documentation site (models, columns, tests, lineage, exposures) into build/dbt_docs/;
# the catalog reads the warehouse, so run it after a build (make demo).
.PHONY: dbt-docs
dbt-docs: install warehouse-up
	@$(RUN) dbt docs generate --quiet --project-dir dbt_project --profiles-dir dbt_project --target-path ../build/dbt_docs
	@echo "dbt docs site: build/dbt_docs/index.html  (serve it: scripts/run.sh dbt docs serve --project-dir dbt_project --target-path ../build/dbt_docs --port 8081)"

# --- Dashboards (Apache Superset, in its own virtualenv so its pins never touch Airflow's) ---
.PHONY: bi install-bi browser lock-bi
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed

$(BI_STAMP): requirements-bi.txt constraints-bi.txt
	@scripts/install.sh "$(PYTHON)" "$(BI_VENV)" requirements-bi.txt constraints-bi.txt
	@touch $(BI_STAMP)

install-bi: $(BI_STAMP)

# Superset on localhost, connected to the warehouse as bi_reader, dashboards provisioned from bi/.
bi: install install-bi warehouse-up
	@$(RUN) python3 scripts/stack.py bi-up
	@$(RUN) python -m cs_analytics.bi.provision

# --- CeleryExecutor: Redis (Debian's redis-server, installed when missing) and two workers on loopback ---
.PHONY: redis redis-up redis-down celery
redis:
	@scripts/install_redis.sh

redis-up: redis
	@$(RUN) python3 scripts/stack.py redis-up

redis-down:
	@$(RUN) python3 scripts/stack.py redis-down

# The daily ingestion for the last simulated day under CeleryExecutor: api-server (the UI on
# AIRFLOW_UI_PORT, to watch), scheduler, dag-processor and two workers; prints which worker ran
# which task. DAGS=ingest_crm,transform picks others; KEEP=1 leaves it running until Ctrl-C.
celery: up redis-up
	@$(RUN) python scripts/celery_run.py $(if $(DAGS),--dags $(DAGS)) $(if $(KEEP),--keep)

# Debian's chromium + chromium-driver (and an emoji font) for the browser tests and the PNG previews, when missing.
browser:
	@scripts/install_browser.sh

lock-bi:
	@rm -rf .lock-venv-bi && $(PYTHON) -m venv .lock-venv-bi && .lock-venv-bi/bin/pip install -q --upgrade pip \
	 && .lock-venv-bi/bin/pip install -q -r requirements-bi.txt && .lock-venv-bi/bin/pip check \
	 && .lock-venv-bi/bin/pip freeze | grep -v '^-e' > constraints-bi.txt && rm -rf .lock-venv-bi

# What the loopback Slack, SMTP and CRM received (after `make demo`), as PNGs in build/alerts/.
.PHONY: alert-previews
alert-previews: install browser
	@$(RUN) python scripts/alert_previews.py

# --- dlt, for benchmarks/loaders_vs_dlt.py only, in its own virtualenv (its pins never touch .venv) ---
.PHONY: install-dlt bench-dlt
DLT_VENV := .venv-dlt
DLT_STAMP := $(DLT_VENV)/.installed

$(DLT_STAMP): requirements-dlt.txt constraints-dlt.txt
	@scripts/install.sh "$(PYTHON)" "$(DLT_VENV)" requirements-dlt.txt constraints-dlt.txt
	@touch $(DLT_STAMP)

install-dlt: $(DLT_STAMP)

bench-dlt: up install-dlt
	@$(RUN) nice python benchmarks/loaders_vs_dlt.py $(if $(QUICK),--runs 1 --cdr-rows 100000 --cdr-files 50)
