"""Alerts: rules as configuration, one message model, an outbox, and the channels.

- `rules.yml` / `rules.py`: the rules, checked at load (`catalog.py`: the columns they may read);
- `engine.py`: rules -> decisions (dedup, cooldown, escalation) -> messages, into the outbox;
- `messages.py`: Email, SlackPost, CrmTask, CrmListSync, Image, OutboxMessage; Alert rendering;
- `outbox.py`: enqueue, deliver_pending, send_now, requeue (every message goes through it);
- `channels/`: email (SMTP), slack (slack_sdk), crm (HubSpot tasks and lists);
- `delivery.py`: routing an Alert to its audiences; `deliver()` for alerts raised by code;
- `notifiers.py`: Airflow's failure notifier and the marts deadline callback;
- `templates.py`, `templates/`, `charts.py`: strict templates, the customer e-mail, PNG charts;
- `tasks.py`: the DAGs' entry points.
"""
