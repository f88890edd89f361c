"""The daily ingestion under CeleryExecutor with two workers on loopback (tests/e2e/celery_world.py
runs it): every run and task instance succeeded, and both workers ran tasks.

The DAG set is the ingestion layer only (about 30 task instances): transform's dbt build in
watcher mode adds some 200 tasks of a few seconds each, many minutes on a 2-core machine,
without telling more about how tasks spread over workers.
"""

from __future__ import annotations

import pytest

from scripts.celery_run import INGESTION, WORKERS, print_report, spread
from tests.e2e.celery_world import celery_ingestion

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def celery_run(tmp_path_factory, server_url):
    with celery_ingestion(tmp_path_factory.mktemp("celery"), server_url) as run:
        print_report(run["tis"], run["seconds"])
        yield run


def test_every_ingestion_run_and_task_succeeded(celery_run):
    assert celery_run["states"] == dict.fromkeys(INGESTION, "success"), celery_run["states"]
    tis = celery_run["tis"]
    assert {ti["dag_id"] for ti in tis} == set(INGESTION)
    not_ok = [(ti["dag_id"], ti["task_id"], ti["state"]) for ti in tis if ti["state"] not in ("success", "skipped")]
    assert not not_ok, not_ok
    assert sum(ti["state"] == "success" for ti in tis) >= len(INGESTION) * 2


def test_tasks_ran_on_both_workers(celery_run):
    # (a task the scheduler completes without running it, such as an EmptyOperator, has no hostname)
    ran = [ti for ti in celery_run["tis"] if ti["state"] == "success" and ti["hostname"]]
    by_worker = spread(ran)
    assert set(by_worker) == set(WORKERS), by_worker  # no task ran anywhere else
    assert all(n >= 2 for n in by_worker.values()), by_worker
