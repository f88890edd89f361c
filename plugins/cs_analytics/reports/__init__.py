"""Scheduled reports (spec 3.1): daily, weekly, monthly and quarterly, by e-mail and Slack."""
