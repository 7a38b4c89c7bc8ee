"""Synthetic data for the agents tests (a uniquely named module: tests/ has several conftests).

Synthetic task: each episode has a fixed random "goal" in its observation and the expert's action
chunk is a smooth deterministic function of that goal, so BC has an exact target to approach.
"""

from __future__ import annotations

import numpy as np

OBS_DIM = 5
EPISODE_STEPS = 14  # not a multiple of H = 4: the last chunk is partial


def expert_actions(obs: np.ndarray) -> np.ndarray:
    """(N, D) observations -> (N, 7) actions in [-1, 1], a function of obs[:, 0] alone."""
    return np.clip(0.8 * np.sin(2.0 * obs[:, :1] + np.arange(7)), -1.0, 1.0).astype(np.float32)


def make_demo(
    rng: np.random.Generator, steps: int = EPISODE_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    goal = rng.uniform(-1.0, 1.0, size=(1, OBS_DIM))
    obs = np.repeat(goal, steps + 1, axis=0).astype(np.float32)
    obs[:, 1] = np.linspace(0.0, 1.0, steps + 1)  # a time-varying dimension the expert ignores
    return obs, expert_actions(obs[:-1])


def make_images(
    rng: np.random.Generator, steps: int, cameras: int = 2, size: int = 16
) -> np.ndarray:
    """Random uint8 camera images (steps, cameras, size, size, 3), as an episode stores them."""
    return rng.integers(0, 256, size=(steps, cameras, size, size, 3), dtype=np.uint8)
