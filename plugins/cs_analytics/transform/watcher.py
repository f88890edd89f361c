"""One Airflow task per dbt model in Cosmos's watcher mode: the model's build AND its tests.

Cosmos renders a tested model as two tasks (`<model>.run`, `<model>.test`) that only read what the
producer's one `dbt build` reported; every task costs Airflow a task run (state updates, XCom
reads, logs), and the test tasks were half of the transform's ~170, most of what the DAG cost on
top of a plain `dbt build` (benchmarks/transform_overhead.py). `dbt build` itself treats a model
and its tests as one step: a failing test stops the models downstream. This task does the same: it
succeeds when the model was built and all its tests passed, and fails naming the model's tests
when one failed, so what depends on the model ends upstream_failed in the UI, as dbt skipped it.

Under the scheduler each such task starts in the triggerer (`start_from_trigger`, ModelDoneTrigger)
and, in the common case (built, tests passed), ends there: a worker process imports Cosmos and
parses the DAG file, ~15 s a task with many at once on 2 cores, most of what the group cost on top
of a plain `dbt build`. `airflow dags test` never starts a task from a trigger: it runs `execute`,
the worker's path, as does every outcome but success (ModelDoneTrigger).

Imported only where the dbt task group is built and by the triggerer (cosmos is heavy).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowException
from airflow.triggers.base import StartTriggerArgs, TaskSuccessEvent, TriggerEvent
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.state import (
    DbtTestStatus,
    get_status_xcom_key,
    get_xcom_val,
    is_dbt_node_status_success,
    is_producer_task_terminated,
)
from cosmos.operators._watcher.triggerer import WatcherTrigger
from cosmos.operators.watcher import DbtRunWatcherOperator, DbtSeedWatcherOperator, DbtSnapshotWatcherOperator


class _WithTests:
    """A node's task: its node status, then the aggregated status of its tests (`model_tests`).

    A retry (or a clear from the UI) runs `dbt build --select <node>` by itself, node and tests,
    as Cosmos's sensors run `dbt run` / `dbt seed` for their node."""

    base_cmd = ["build"]  # only used by the retry fallback
    model_tests: tuple[str, ...] = ()

    def _fallback_to_non_watcher_run(self, try_number: int, context: Any) -> bool:
        self._built_by_itself = super()._fallback_to_non_watcher_run(try_number, context)
        return self._built_by_itself

    def poke(self, context: Any) -> bool:
        self._built_by_itself = False
        if not super().poke(context):  # raises when the model failed or dbt skipped it
            return False
        return self._built_by_itself or self._tests_passed(context)

    def _tests_passed(self, context: Any) -> bool:
        """True when every test of the model passed; False while they are still running; raises when
        one failed or the producer ended without reporting them."""
        if not self.model_tests:
            return True
        ti = context["ti"]
        status = get_xcom_val(ti, self.producer_task_id, get_tests_status_xcom_key(self.model_unique_id))
        if status is None:
            producer_state = self._get_producer_task_status(context)
            if is_producer_task_terminated(producer_state):
                raise AirflowException(
                    f"dbt tests of model '{self.model_unique_id}' never reported: the producer "
                    f"'{self.producer_task_id}' ended {producer_state} before running them; see its log"
                )
            return False
        if status != DbtTestStatus.PASS:
            raise AirflowException(
                f"dbt tests of model '{self.model_unique_id}' failed: one of {', '.join(self._test_names())}. "
                f"The producer '{self.producer_task_id}' log names it; dbt built nothing downstream of the model."
            )
        self.log.info("model built; its %d dbt tests passed", len(self.model_tests))
        return True

    def _test_names(self) -> list[str]:
        return [uid.split(".")[2] if uid.count(".") >= 2 else uid for uid in self.model_tests]

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        """Deferred on the model's status (Cosmos's trigger): the model is built; now its tests."""
        super().execute_complete(context, event)
        if not self._tests_passed(context):
            self.defer(
                trigger=WatcherTrigger(
                    model_unique_id=self.model_unique_id,
                    producer_task_id=self.producer_task_id,
                    dag_id=self.dag_id,
                    run_id=context["run_id"],
                    map_index=context["task_instance"].map_index,
                    poke_interval=self.poke_interval,
                    is_test_sensor=True,
                ),
                timeout=self.execution_timeout,
                method_name="tests_complete",
            )

    def tests_complete(self, context: Any, event: dict[str, Any]) -> None:
        # the trigger fires on the tests' final status, or when the producer ended without it
        if not self._tests_passed(context):
            raise AirflowException(f"dbt tests of model '{self.model_unique_id}' have no final status: {event}")

    def resume_on_worker(self, context: Any, event: Any = None) -> None:
        """Started in the triggerer, which saw no plain success: the worker's path from the start
        (`execute`), which raises the same errors and, on a retry, builds the node by itself."""
        self.log.info("the triggerer handed the task over: %s", event)
        self.execute(context)


class ModelDoneTrigger(WatcherTrigger):
    """Where a model task starts under the scheduler (start_from_trigger). The task ends here, a
    success, when its node was built and, when it has tests, their aggregated status is `pass`; any
    other outcome (node failed or skipped, a test failed, the producer ended without reporting, or
    a retry, which runs dbt for the node) resumes it on a worker at `resume_on_worker`.

    The run, DAG and map index come from the task instance the triggerer gives the trigger (its
    arguments are fixed when the DAG is parsed)."""

    def __init__(
        self, model_unique_id: str, producer_task_id: str, poke_interval: float = 5.0, has_tests: bool = False,
        dag_id: str = "", run_id: str = "", map_index: int | None = -1,
    ) -> None:  # fmt: skip
        super().__init__(model_unique_id, producer_task_id, dag_id, run_id, map_index, poke_interval)
        self.has_tests = has_tests

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.{type(self).__name__}", {
            "model_unique_id": self.model_unique_id,
            "producer_task_id": self.producer_task_id,
            "poke_interval": self.poke_interval,
            "has_tests": self.has_tests,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = self.task_instance
        if ti is not None:
            self.dag_id, self.run_id, self.map_index = ti.dag_id, ti.run_id, ti.map_index
            if ti.try_number > 1:
                yield TriggerEvent({"status": "retry", "try_number": ti.try_number})
                return
        # the fewest reads: the triggerer serves every trigger's XCom reads one at a time, and a
        # layer of the dbt DAG starts at once (Cosmos's own trigger reads 6 per model)
        node = await self._final(get_status_xcom_key(self.model_unique_id))
        status = node.get("status") if isinstance(node, dict) else None
        if not is_dbt_node_status_success(status):
            yield TriggerEvent({"status": status, "reason": "node"})
            return
        if self.has_tests:
            tests = await self._final(get_tests_status_xcom_key(self.model_unique_id))
            if tests != DbtTestStatus.PASS:
                yield TriggerEvent({"status": tests, "reason": "tests"})
                return
        self.log.info("%s built%s", self.model_unique_id, "; its dbt tests passed" if self.has_tests else "")
        yield TaskSuccessEvent()

    async def _final(self, key: str) -> Any:
        """The producer's XCom `key` once set; None when the producer ended without setting it."""
        while (value := await self.get_xcom_val(key)) is None:
            if is_producer_task_terminated(await self._get_producer_task_status()):
                return await self.get_xcom_val(key)  # it may have pushed it just before ending
            await asyncio.sleep(self.poke_interval)
        return value


class DbtModelWatcherSensor(_WithTests, DbtRunWatcherOperator):
    """A model: built, and its tests passed."""


class DbtSeedWatcherSensor(_WithTests, DbtSeedWatcherOperator):
    """A seed: loaded, and its tests passed."""


class DbtSnapshotWatcherSensor(_WithTests, DbtSnapshotWatcherOperator):
    """A snapshot: taken, and its tests passed."""


# Cosmos instantiates its own classes; each subclass only adds the tests check (same fields)
_FOLDED = {
    DbtRunWatcherOperator: DbtModelWatcherSensor,
    DbtSeedWatcherOperator: DbtSeedWatcherSensor,
    DbtSnapshotWatcherOperator: DbtSnapshotWatcherSensor,
}


def tests_by_node(manifest_path: Path, rendered: set[str] | None = None) -> dict[str, list[str]]:
    """Each dbt test under the node whose task reports it: the node it is declared on (a
    relationships test from fct_calls to dim_date belongs to fct_calls, built after dim_date; Cosmos
    files it under both, which would fail dim_date's task when fct_calls is not built); a singular
    test reading several models belongs to those no other of them is built from. With `rendered`
    (the group's nodes, when it selects part of the project), only the tests whose parents are all
    in it: dbt's buildable selection runs no other, so no task waits for one that never comes."""
    manifest = json.loads(manifest_path.read_text())
    nodes, parent_map = manifest["nodes"], manifest.get("parent_map", {})
    ancestors: dict[str, set[str]] = {}

    def ancestors_of(uid: str) -> set[str]:
        if uid not in ancestors:
            ancestors[uid] = set()  # cut cycles (there are none in a dbt DAG)
            found = set(parent_map.get(uid, ()))
            for parent in list(found):
                found |= ancestors_of(parent)
            ancestors[uid] = found
        return ancestors[uid]

    owned: dict[str, list[str]] = {}
    for uid, node in nodes.items():
        if node["resource_type"] != "test":
            continue
        parents = [p for p in node["depends_on"]["nodes"] if p in nodes]
        if rendered is not None and not set(parents) <= rendered:
            continue
        owners = [node["attached_node"]] if node.get("attached_node") else [
            p for p in parents if not any(p in ancestors_of(q) for q in parents if q != p)
        ]  # fmt: skip
        for owner in owners:
            owned.setdefault(owner, []).append(uid)
    return owned


def fold_tests_into_models(group, producer, manifest_path: Path) -> None:
    """Make every model, seed and snapshot task of a watcher group also wait for the node's tests
    (tests_by_node, which the producer aggregates by too), and keep the tests in the producer's
    `dbt build` (Cosmos drops them for TestBehavior.NONE)."""
    flags = list(producer.dbt_cmd_flags or [])
    kept: list[str] = []
    while flags:
        flag = flags.pop(0)
        if flag == "--resource-type":
            flags.pop(0)
            continue
        kept.append(flag)
    producer.dbt_cmd_flags = kept
    folded = [t for t in group.children.values() if type(t) in _FOLDED]
    tests_per_model = tests_by_node(manifest_path, {t.model_unique_id for t in folded})
    producer.tests_per_model = tests_per_model
    for task in folded:
        task.__class__ = _FOLDED[type(task)]
        task.model_tests = tuple(tests_per_model.get(task.model_unique_id, ()))
        task.start_from_trigger = True
        task.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{__name__}.{ModelDoneTrigger.__name__}",
            trigger_kwargs={
                "model_unique_id": task.model_unique_id,
                "producer_task_id": task.producer_task_id,
                "poke_interval": task.poke_interval,
                "has_tests": bool(task.model_tests),
            },
            next_method=_WithTests.resume_on_worker.__name__,
            timeout=task.execution_timeout,
        )
