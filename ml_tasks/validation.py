"""Input checks shared by the models: a model refuses bad input with a message that names the
model, the input and what is missing, before it computes (so nothing half-done is ever written)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


class ModelInputError(ValueError):
    """The input of a model is empty, too short or lacks what the model needs."""

    def __init__(self, model: str, source: str, problem: str) -> None:
        self.model, self.source, self.problem = model, source, problem
        super().__init__(f"{model}: input {source} {problem}")


def require_frame(
    frame: pd.DataFrame | None,
    model: str,
    source: str,
    columns: Iterable[str] = (),
    not_all_null: Iterable[str] = (),
    min_rows: int = 1,
) -> pd.DataFrame:
    """Return `frame` if it has the columns, at least `min_rows` rows and some values in each of
    `not_all_null`; otherwise raise ModelInputError."""
    if frame is None or len(frame) == 0:
        raise ModelInputError(model, source, "is empty (no rows): nothing to learn from or to score")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ModelInputError(model, source, f"lacks column(s) {', '.join(missing)}")
    if len(frame) < min_rows:
        raise ModelInputError(model, source, f"has {len(frame)} rows, needs at least {min_rows}")
    empty = [c for c in not_all_null if frame[c].isna().all()]
    if empty:
        raise ModelInputError(model, source, f"has only nulls in {', '.join(empty)}")
    return frame
