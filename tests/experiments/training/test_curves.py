"""The trailing moving mean behind every learning curve."""

from __future__ import annotations

import numpy as np

from experiments.training.curves import moving_mean


def test_moving_mean_averages_the_last_window_values_and_fewer_at_the_start():
    values = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    np.testing.assert_allclose(moving_mean(values, window=3),
                               [1.0, 0.5, 2 / 3, 2 / 3, 2 / 3, 1 / 3])
    np.testing.assert_allclose(moving_mean(values, window=1), values)
    # A window longer than the curve is the running mean.
    np.testing.assert_allclose(moving_mean(values, window=50), np.cumsum(values) / np.arange(1, 7))
    assert moving_mean([], window=20).shape == (0,)
