"""Random streams: one independent generator per component of the world."""

from __future__ import annotations

import numpy as np


def component_rng(seed: int, component: str) -> np.random.Generator:
    """A PCG64 stream keyed by (seed, component name).

    Each component draws from its own stream, so adding or changing one component leaves the
    draws of every other component, and therefore their output, unchanged.
    """
    sequence = np.random.SeedSequence(entropy=seed, spawn_key=tuple(component.encode("utf-8")))
    return np.random.Generator(np.random.PCG64(sequence))
