"""Superset settings for the project's dashboards (loaded through SUPERSET_CONFIG_PATH).

Everything secret or machine-specific comes from the environment, which `make bi`
(scripts/stack.py bi-up) and docker-compose.yaml provide; nothing here is a secret.
"""

from __future__ import annotations

import os

# --- secrets and metadata -----------------------------------------------------------------
# Signs sessions and encrypts the stored database passwords; required, no default.
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
# Superset's own metadata (users, dashboards, charts), not the warehouse.
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URL"]

# --- web server ---------------------------------------------------------------------------
APP_NAME = "Service client - tableaux de bord"
SUPERSET_WEBSERVER_PORT = int(os.environ.get("BI_PORT", "8088"))
# A dashboard whose query outruns this fails visibly instead of spinning.
SUPERSET_WEBSERVER_TIMEOUT = 60
ROW_LIMIT = 5000

# --- French interface -----------------------------------------------------------------------
BABEL_DEFAULT_LOCALE = "fr"
LANGUAGES = {"fr": {"flag": "fr", "name": "Français"}, "en": {"flag": "us", "name": "English"}}
# Numbers as a French reader writes them: 1 234,5 and 8 500 €.
D3_FORMAT = {"decimal": ",", "thousands": "\u202f", "grouping": [3], "currency": ["", "\u00a0€"]}
D3_TIME_FORMAT = {
    "dateTime": "%A %e %B %Y à %X",
    "date": "%d/%m/%Y",
    "time": "%H:%M:%S",
    "periods": ["AM", "PM"],
    "days": ["dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"],
    "shortDays": ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
    "months": [
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ],
    "shortMonths": [
        "janv.", "févr.", "mars", "avr.", "mai", "juin",
        "juil.", "août", "sept.", "oct.", "nov.", "déc.",
    ],
}  # fmt: skip
CURRENCIES = ["EUR"]

# --- features ---------------------------------------------------------------------------------
FEATURE_FLAGS = {
    # Render every chart at once: a dashboard is read (and screenshotted) whole, not scrolled.
    "DASHBOARD_VIRTUALIZATION": False,
    # Dashboards are shown to the roles they list (bi/dashboards/*.yaml `roles:`).
    "DASHBOARD_RBAC": True,
}
# The headline tiles are small HTML templates (Handlebars charts, bi/templates/): let them keep
# their classes, their stylesheet and the data-kpi attribute the browser tests read.
HTML_SANITIZATION_SCHEMA_EXTENSIONS = {"tagNames": ["style"], "attributes": {"*": ["className", "dataKpi"]}}

# --- content security policy ------------------------------------------------------------------
# Superset's default policy, plus 'unsafe-eval' for scripts: the Handlebars charts (the KPI
# cards) compile their template in the browser. No other origin is allowed (the maps and
# telemetry hosts of the default are left out: this deployment uses neither).
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "script-src": ["'self'", "'strict-dynamic'", "'unsafe-eval'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
