"""Dashboards as code: the Superset datasets, charts and dashboards of bi/ (YAML), built into
an import bundle, checked against the warehouse and provisioned through Superset's REST API.

- `specs`: reads bi/*.yaml and builds the bundle (pure: files in, bundle out).
- `superset_api`: a small client for the REST endpoints provisioning uses.
- `provision`: `python -m cs_analytics.bi.provision`, run by `make bi`.
"""
