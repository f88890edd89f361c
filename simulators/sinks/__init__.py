"""Loopback notification sinks: a Slack Web API stand-in and an SMTP server that keep what they receive."""
