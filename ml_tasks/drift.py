"""Feature drift: the population stability index (PSI) of each feature against the training window.

PSI = sum over bins of (p - q) * ln(p / q), with q the share of training rows in a bin and p the
share of scored rows. Bins are the training window's deciles, kept with the model so scoring
compares against exactly what the model learnt from. Usual reading: below 0.1 stable, 0.1-0.2
moderate shift, above 0.2 (`PSI_WARNING`) a shift worth a look before trusting the scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PSI_WARNING = 0.2
BINS = 10
_FLOOR = 1e-4  # an empty bin would make ln(p/q) infinite


@dataclass(frozen=True)
class FeatureReference:
    """A feature's training distribution: inner bin edges and the share of rows per bin
    (the last share is the null bucket)."""

    feature: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"feature": self.feature, "edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureReference:
        return cls(d["feature"], tuple(d["edges"]), tuple(d["shares"]))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    finite = ~np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[finite], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, (~finite).sum()).astype(float)
    return counts / max(len(values), 1)


def reference(frame: pd.DataFrame, features: list[str]) -> list[FeatureReference]:
    """The training distribution of each feature (deciles; ties merge bins)."""
    out = []
    for feature in features:
        values = frame[feature].to_numpy(dtype=float)
        finite = values[~np.isnan(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if len(finite) else np.array([])
        out.append(FeatureReference(feature, tuple(map(float, edges)), tuple(map(float, _shares(values, edges)))))
    return out


def psi(ref: FeatureReference, values: pd.Series | np.ndarray) -> float:
    expected = np.maximum(np.asarray(ref.shares), _FLOOR)
    actual = np.maximum(_shares(np.asarray(values, dtype=float), np.asarray(ref.edges)), _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def drift_table(references: list[FeatureReference], frame: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: its PSI against the training window and whether it passes the warning."""
    rows = [{"feature": r.feature, "psi": round(psi(r, frame[r.feature]), 4), "rows": len(frame)} for r in references]
    table = pd.DataFrame(rows, columns=["feature", "psi", "rows"])
    table["is_warning"] = table["psi"] > PSI_WARNING
    return table
