"""ml_tasks.drift: the population stability index."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_tasks.drift import PSI_WARNING, drift_table, reference


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    training = pd.DataFrame({"x": rng.normal(0, 1, 5000), "y": rng.exponential(1, 5000)})
    refs = reference(training, ["x", "y"])
    same = drift_table(refs, pd.DataFrame({"x": rng.normal(0, 1, 2000), "y": rng.exponential(1, 2000)}))
    shifted = drift_table(refs, pd.DataFrame({"x": rng.normal(1, 1, 2000), "y": rng.exponential(1, 2000)}))
    assert (same["psi"] < 0.05).all() and not same["is_warning"].any()
    assert shifted.set_index("feature").loc["x", "psi"] > PSI_WARNING
    assert shifted.set_index("feature")["is_warning"].to_dict() == {"x": True, "y": False}


def test_nulls_count_as_their_own_bucket() -> None:
    refs = reference(pd.DataFrame({"x": np.arange(100.0)}), ["x"])
    table = drift_table(refs, pd.DataFrame({"x": [np.nan] * 50 + list(range(50))}))
    assert table.loc[0, "is_warning"]
