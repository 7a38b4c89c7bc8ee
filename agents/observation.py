"""The flat observation the agents see, built the same way by collection, pretraining and actors.

Layout along the last axis: the robot's proprioception, then the privileged sim state when the
env provides one (a sim twin does; a real robot gives none). Images, when the policy uses a camera,
travel beside this vector as `{"state": ..., "image": ...}` (see `agents.networks.as_obs`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_obs"]


def make_obs(proprio: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
    """The flat observation the agents see: proprio, then sim state if any, along the last axis."""
    proprio = np.asarray(proprio, np.float32)
    if states is None or np.size(states) == 0:
        return proprio
    return np.concatenate([proprio, np.asarray(states, np.float32)], axis=-1)
