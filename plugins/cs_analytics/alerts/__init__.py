"""Business and data-engineering alerts: the rules, one message model, delivery by email and Slack."""
