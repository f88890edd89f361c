"""The transform's structure, and how its dbt group is wired in watcher mode (transform/dbt.py)."""

from __future__ import annotations

import pytest

try:  # Airflow >= 3.2
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # pragma: no cover - older Airflow
    from airflow.models.dagbag import DagBag

from tests.dags.test_dag_integrity import DAGS_DIR


@pytest.fixture(scope="module")
def dags() -> dict:
    return DagBag(dag_folder=str(DAGS_DIR)).dags


def _group_tasks(dag, group_id: str) -> dict:
    return {t.task_id: t for t in dag.tasks if t.task_id.startswith(f"{group_id}.")}


def test_transform_keeps_its_stages_in_order(dags):
    dag = dags["transform"]
    chain = ["as_of", "quality_gate_sources", "quality_gate_marts", "publish_marts", "grant_bi_reader"]
    for upstream, downstream in [(chain[0], chain[1]), (chain[2], chain[3]), (chain[3], chain[4])]:
        assert downstream in dag.get_task(upstream).downstream_task_ids
    dbt = _group_tasks(dag, "dbt")
    # the gate leads into the group only through dbt_ready; every leaf of the group leads to the mart gate
    assert dag.get_task("quality_gate_sources").downstream_task_ids == {"dbt.dbt_ready"}
    leaves = [t for t in dbt.values() if not (t.downstream_task_ids & set(dbt))]
    assert leaves and all("quality_gate_marts" in t.downstream_task_ids for t in leaves)
    # dbt gets the run's as-of instant (one dbt build: the producer's command)
    assert dbt["dbt.dbt_producer_watcher"].env == {"DBT_AS_OF": "{{ ti.xcom_pull(task_ids='as_of') }}"}


@pytest.mark.parametrize(("dag_id", "group"), [("transform", "dbt"), ("ml_scoring", "present_ml_outputs")])
def test_watcher_group_runs_the_producer_first(dags, dag_id, group):
    tasks = _group_tasks(dags[dag_id], group)
    producer = tasks[f"{group}.dbt_producer_watcher"]
    ready = tasks[f"{group}.dbt_ready"]
    assert producer.upstream_task_ids == {ready.task_id}
    assert producer.retries == 0  # a retried producer is skipped by Cosmos, which would hide the failure
    consumers = [
        t for tid, t in tasks.items() if tid not in (producer.task_id, ready.task_id, f"{producer.task_id}_done")
    ]
    assert consumers
    for task in consumers:
        inside = task.upstream_task_ids & set(tasks)
        assert inside, f"{task.task_id} has no upstream in the group: dags test could start it before the producer"
        if inside == {ready.task_id, producer.task_id}:  # a root model: after the producer, failed or not
            assert task.trigger_rule == "all_done_min_one_success"
        assert task.retries >= 2  # a model task retries its own model


def test_watcher_model_tasks_carry_their_tests(dags):
    """One task per model in watcher mode: it waits for the model's tests too (transform/watcher.py),
    and the producer's `dbt build` keeps the tests that Cosmos would drop without test tasks."""
    from cs_analytics.transform.watcher import DbtModelWatcherSensor

    dbt = _group_tasks(dags["transform"], "dbt")
    assert not [t for t in dbt if t.endswith((".test", "_test"))]
    assert "--resource-type" not in (dbt["dbt.dbt_producer_watcher"].dbt_cmd_flags or [])
    fct_calls = dbt["dbt.fct_calls_run"]
    assert isinstance(fct_calls, DbtModelWatcherSensor)
    assert "test.cs_analytics.unique_fct_calls_call_id" in {t.rsplit(".", 1)[0] for t in fct_calls.model_tests}
    models = [t for t in dbt.values() if isinstance(t, DbtModelWatcherSensor)]
    assert len(models) > 40 and sum(bool(t.model_tests) for t in models) > 30


def test_watcher_model_tasks_start_in_the_triggerer(dags):
    """Under the scheduler a model task starts in the triggerer (ModelDoneTrigger, transform/watcher.py)
    and resumes on a worker only when it did not simply succeed; the serialized DAG, which the
    scheduler and the triggerer read, keeps that."""
    from airflow.serialization.serialized_objects import DagSerialization

    from cs_analytics.transform.watcher import DbtModelWatcherSensor, ModelDoneTrigger

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dags["transform"]))
    dbt = _group_tasks(dags["transform"], "dbt")
    models = [tid for tid, t in dbt.items() if isinstance(t, DbtModelWatcherSensor)]
    for tid in models:
        task, source = dag.get_task(tid), dbt[tid]
        assert task.start_from_trigger, tid
        args = task.start_trigger_args
        assert args.trigger_cls == f"{ModelDoneTrigger.__module__}.ModelDoneTrigger"
        assert hasattr(source, args.next_method)
        kwargs = args.trigger_kwargs
        kwargs = kwargs.get("__var", kwargs)  # stored serde-encoded
        assert kwargs["model_unique_id"] == source.model_unique_id
        assert kwargs["has_tests"] == bool(source.model_tests)
        assert not source.outlets  # no asset event lost when the task ends in the triggerer (emit_datasets=False)
    # the producer runs dbt on a worker
    assert not dag.get_task("dbt.dbt_producer_watcher").start_from_trigger
