"""The bad-input corpus through the production loaders: each input ends loaded, quarantined with its
reason, or refused with an error naming it — never a silent drop, never unrelated data lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from cs_analytics.warehouse import Warehouse
from tests.conftest import throwaway_database
from tests.reliability.corpus import CORPUS, Case, cases, reset, run_case
from tests.reliability.results import record_input

CASES = cases()


def test_the_corpus_covers_every_source_with_at_least_30_inputs_each_kept_as_a_file():
    assert len(CASES) >= 30
    assert {c.source for c in CASES} == {"cti", "crm", "mobile_app", "erp"}
    for c in CASES:
        assert (CORPUS / c.input).is_file(), c.input
        assert c.expect in ("loaded", "quarantined", "refused"), c.input


@pytest.fixture(scope="module")
def databases(server_url):
    """One warehouse and one Sage database for the whole corpus, emptied between inputs: dropping
    a database costs a checkpoint (~1.5 s each on the shared machine), emptying it a few ms."""
    with throwaway_database(server_url, "corpus") as wh_url, throwaway_database(server_url, "corpus_src") as src_url:
        yield Warehouse(wh_url), src_url


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_loaded_quarantined_or_refused_as_the_manifest_says(case: Case, databases, tmp_path):
    warehouse, source_db = databases
    reset(warehouse, source_db)
    out = run_case(case, warehouse, source_db, tmp_path)
    record_input(case, out)

    assert out.verdict == case.expect, out
    if case.expect == "refused" and case.source != "cti":
        # An API object or ERP table loads all or nothing: a refusal commits none of it (the batch
        # neither); other objects load in their own tasks.
        assert out.companions_loaded == 0 and out.batch_recorded is False, out
    else:
        # Unrelated data delivered beside the input (other CDR files, other records) loads whatever it did.
        assert out.companions_loaded == out.companions_expected, out
    if case.expect == "refused":
        name = case.names or (Path(case.input).name if case.source == "cti" else case.error.split(":")[0])
        assert name in out.error and case.error in out.error, out.error
        assert out.loaded == 0
        return
    assert out.loaded == case.loaded, out
    assert out.quarantined == case.quarantined, out
    if case.reason:
        assert all(case.reason in r for r in out.reasons), out.reasons
    # Nothing dropped silently: what the loader read of the input is loaded or quarantined.
    assert out.rows_read == out.loaded + out.quarantined + case.dropped, out
    if case.check:
        assert out.check_value == case.check[1], out.check_value
