"""DBT_EXECUTION_MODE / DBT_INVOCATION_MODE: the defaults, and a clear error naming a bad value."""

from __future__ import annotations

import pytest

from cs_analytics.config import dbt_execution_mode, dbt_invocation_mode


def test_defaults_watcher_with_dbt_as_a_subprocess(monkeypatch):
    monkeypatch.delenv("DBT_EXECUTION_MODE", raising=False)
    monkeypatch.delenv("DBT_INVOCATION_MODE", raising=False)
    assert (dbt_execution_mode(), dbt_invocation_mode()) == ("watcher", "subprocess")


def test_local_mode_defaults_to_the_in_process_runner(monkeypatch):
    monkeypatch.setenv("DBT_EXECUTION_MODE", "LOCAL")
    monkeypatch.delenv("DBT_INVOCATION_MODE", raising=False)
    assert (dbt_execution_mode(), dbt_invocation_mode()) == ("local", "dbt_runner")


def test_an_explicit_invocation_mode_wins(monkeypatch):
    monkeypatch.setenv("DBT_EXECUTION_MODE", "watcher")
    monkeypatch.setenv("DBT_INVOCATION_MODE", "dbt_runner")
    assert dbt_invocation_mode() == "dbt_runner"


@pytest.mark.parametrize(("name", "value"), [("DBT_EXECUTION_MODE", "virtualenv"), ("DBT_INVOCATION_MODE", "docker")])
def test_unknown_values_are_named(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r}"):
        dbt_execution_mode() if name == "DBT_EXECUTION_MODE" else dbt_invocation_mode()
