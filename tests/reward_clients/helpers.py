"""Helpers for the reward client tests: small synthetic episodes and fast retry settings."""

from __future__ import annotations

import numpy as np

from envs.episode import Episode

# Retries that finish in milliseconds; timeouts short enough for a hanging server.
FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 2.0, "connect_timeout_s": 1.0}


def episode_with_ramp(
    episode_id: str = "ep-0",
    task: str = "open the drawer",
    num_frames: int = 10,
    fps: float = 5.0,
    height: int = 32,
    width: int = 48,
    oracle_score: int | None = None,
) -> Episode:
    """An episode whose frame i is a flat grey of level 10 + 20 * i (mod 240): frames are told
    apart after H.264 by their mean, so tests can check which ones were sent."""
    levels = (10 + 20 * np.arange(num_frames)) % 240
    frames = np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).astype(np.uint8)
    return Episode(episode_id=episode_id, task=task, frames=frames, fps=fps, oracle_score=oracle_score)
