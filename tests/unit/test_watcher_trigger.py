"""ModelDoneTrigger (transform/watcher.py): where a dbt model's task starts under the scheduler. It
ends the task as a success when the model was built and its tests passed, and hands any other
outcome to a worker. The producer's XComs and task state are faked where the trigger reads them
through the Task SDK (XCom.get_one, RuntimeTaskInstance.get_task_states)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
from airflow.sdk.execution_time.xcom import XCom
from airflow.triggers.base import BaseTaskEndEvent, TaskSuccessEvent

from cs_analytics.transform.watcher import ModelDoneTrigger

MODEL = "model.cs_analytics.fct_calls"
PRODUCER = "dbt.dbt_producer_watcher"
RUN_ID = "scheduled__2026-12-03T00:00:00+00:00"


def _run(make_coroutine):
    """The trigger's coroutine on an event loop of its own thread: an earlier test in the same
    pytest process may leave a loop marked running in the main one (asyncio.run then refuses)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def _event(xcoms: dict, producer_state: str | None, has_tests: bool = True, try_number: int = 1, monkeypatch=None):
    """The trigger's first event, with the producer's XComs (key -> value) and state as given."""
    reads: list[str] = []

    def get_one(*, key, dag_id, task_id, run_id, map_index=-1, **_):
        assert (dag_id, task_id, run_id, map_index) == ("transform", PRODUCER, RUN_ID, -1)
        reads.append(key)
        return xcoms.get(key)

    def get_task_states(*, dag_id, task_ids, run_ids, **_):
        return {RUN_ID: {PRODUCER: producer_state}} if producer_state else {}

    monkeypatch.setattr(XCom, "get_one", get_one)
    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", get_task_states)
    trigger = ModelDoneTrigger(
        model_unique_id=MODEL, producer_task_id=PRODUCER, poke_interval=0.01, has_tests=has_tests
    )
    trigger.task_instance = SimpleNamespace(
        dag_id="transform", run_id=RUN_ID, map_index=-1, try_number=try_number, task_id="dbt.fct_calls_run"
    )

    async def first():
        return await asyncio.wait_for(anext(trigger.run()), timeout=5)

    return _run(first), reads


def _node(status: str) -> dict:
    return {f"{MODEL.replace('.', '__')}_status": {"status": status, "outlet_uris": []}}


def _tests(status: str) -> dict:
    return {f"{MODEL.replace('.', '__')}_tests_status": status}


def test_keys_are_cosmos_own():
    from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
    from cosmos.operators._watcher.state import get_status_xcom_key

    assert set(_node("success")) == {get_status_xcom_key(MODEL)}
    assert set(_tests("pass")) == {get_tests_status_xcom_key(MODEL)}


def test_built_and_tested_ends_in_the_triggerer(monkeypatch):
    event, reads = _event({**_node("success"), **_tests("pass")}, "success", monkeypatch=monkeypatch)
    assert isinstance(event, TaskSuccessEvent)
    assert reads == [*_node("success"), *_tests("pass")]  # one read each: a layer of models reads at once


def test_a_model_without_tests_ends_once_built(monkeypatch):
    event, reads = _event(_node("success"), "success", has_tests=False, monkeypatch=monkeypatch)
    assert isinstance(event, TaskSuccessEvent)
    assert not [k for k in reads if k.endswith("_tests_status")]


@pytest.mark.parametrize(
    ("xcoms", "producer"),
    [
        ({**_node("success"), **_tests("fail")}, "failed"),  # a test failed
        ({**_node("success")}, "success"),  # the producer ended without the tests' status
        ({**_node("success")}, "failed"),
        ({**_node("error")}, "failed"),  # the model failed
        ({**_node("skipped")}, "success"),  # dbt skipped it
        ({}, "failed"),  # the producer failed before the model
        ({}, "success"),  # the producer said nothing of the model
    ],
)
def test_any_other_outcome_resumes_on_a_worker(monkeypatch, xcoms, producer):
    event, _ = _event(xcoms, producer, monkeypatch=monkeypatch)
    assert not isinstance(event, BaseTaskEndEvent), event
    assert isinstance(event.payload, dict) and "compiled_sql" not in event.payload


def test_waits_for_the_tests_while_the_producer_runs(monkeypatch):
    xcoms = dict(_node("success"))
    polls = 0

    def running(*, dag_id, task_ids, run_ids, **_):
        nonlocal polls
        polls += 1
        if polls == 3:  # the producer reports the tests after a few polls
            xcoms.update(_tests("pass"))
        return {RUN_ID: {PRODUCER: "running"}}

    monkeypatch.setattr(XCom, "get_one", lambda *, key, **_: xcoms.get(key))
    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", running)
    trigger = ModelDoneTrigger(model_unique_id=MODEL, producer_task_id=PRODUCER, poke_interval=0.01, has_tests=True)
    trigger.task_instance = SimpleNamespace(
        dag_id="transform", run_id=RUN_ID, map_index=-1, try_number=1, task_id="dbt.fct_calls_run"
    )
    event = _run(lambda: asyncio.wait_for(anext(trigger.run()), timeout=5))
    assert isinstance(event, TaskSuccessEvent) and polls >= 3


def test_a_retry_goes_to_the_worker_without_reading(monkeypatch):
    """A retry or a clear builds the model by itself on a worker (the fallback), whatever the XComs say."""
    event, reads = _event({**_node("success"), **_tests("pass")}, "success", try_number=2, monkeypatch=monkeypatch)
    assert not isinstance(event, BaseTaskEndEvent) and reads == []


def test_serializes_to_itself():
    trigger = ModelDoneTrigger(model_unique_id=MODEL, producer_task_id=PRODUCER, poke_interval=3, has_tests=True)
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    again = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert again.serialize() == (path, kwargs)
