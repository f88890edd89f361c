"""Alerts and reports to email and Slack."""
