"""Every DAG of the pipeline run three times for the same interval leaves the warehouse identical
(rows and business-column checksums of every table: raw, meta, ml, marts, outbox and delivery
log) and sends no second alert. Long: runs the whole pipeline three times (make test-reliability)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.demo import PIPELINE, dags_test
from simulators.sinks import inbox
from tests.e2e.test_pipeline import RUN_AFTER, pipeline  # noqa: F401 - the fixture: a world and one full run
from tests.reliability.state import excluded_columns, snapshot

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]
RESULTS = Path(__file__).resolve().parents[2] / "build" / "reliability"


def _deliveries(tmp: Path) -> dict[str, int]:
    return {"slack_messages": len(inbox.slack_messages(tmp / "slack")), "emails": len(inbox.mails(tmp / "mail"))}


def test_three_runs_of_every_dag_for_one_interval_leave_the_warehouse_identical(pipeline):  # noqa: F811
    wh, tmp = pipeline["wh"], pipeline["tmp"]
    states = [snapshot(wh)]
    sent = [_deliveries(tmp)]
    for attempt in (2, 3):
        for dag_id in PIPELINE:
            dags_test(dag_id, RUN_AFTER, log_dir=tmp / f"logs_rerun{attempt}", env=pipeline["env"])
        states.append(snapshot(wh))
        sent.append(_deliveries(tmp))

    changed = {
        t: [s.get(t) for s in states] for t in sorted(set().union(*states)) if len({s.get(t) for s in states}) > 1
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "idempotence.json").write_text(
        json.dumps(
            {
                "runs": 3,
                "tables": len(states[0]),
                "rows": sum(n for n, _ in states[0].values()),
                "tables_changed": changed,
                "deliveries_per_run": sent,
                "run_specific_columns_excluded": excluded_columns(wh),
            },
            indent=1,
            default=str,
        )
    )
    assert not changed, f"tables that changed between runs: {changed}"
    assert sent[0] == sent[1] == sent[2], f"alerts sent again on a re-run: {sent}"
    assert states[0]["raw_cti.calls"][0] > 0 and states[0]["marts.fct_calls"][0] > 0
