"""Fixtures shared by the integration tests beyond the warehouse ones (tests/conftest.py)."""

from tests.integration.alerting import sinks  # noqa: F401 (the loopback SMTP/Slack/CRM servers)
