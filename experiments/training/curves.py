"""Learning-curve smoothing shared by the report plots, the ablation plot and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["moving_mean"]


def moving_mean(values: Sequence[float] | np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing mean over the last `window` values (fewer at the start, so no point is dropped)."""
    values = np.asarray(values, float)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (sums[index] - sums[start]) / (index - start)
