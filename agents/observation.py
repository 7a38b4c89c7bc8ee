"""The observation the agents see, built the same way by collection, pretraining and actors.

The flat state vector: the robot's proprioception, then the privileged sim state when the env
provides one and the observation spec lets it through (a real robot gives none). Camera images,
when the policy sees cameras, travel beside it as `{"state": (..., D), "images": uint8 (..., C, H,
W, 3)}`, the C cameras stacked in the spec's camera order (`stack_cameras`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["make_obs", "stack_cameras"]


def make_obs(proprio: np.ndarray, states: np.ndarray | None = None) -> np.ndarray:
    """The flat observation the agents see: proprio, then sim state if any, along the last axis."""
    proprio = np.asarray(proprio, np.float32)
    if states is None or np.size(states) == 0:
        return proprio
    return np.concatenate([proprio, np.asarray(states, np.float32)], axis=-1)


def stack_cameras(images: Mapping[str, np.ndarray], cameras: Sequence[str]) -> np.ndarray:
    """Camera name -> uint8 (..., H, W, 3) images become one uint8 (..., C, H, W, 3) array in the
    order of `cameras` (an env observation's "images", or an episode's per-camera arrays)."""
    if not cameras:
        raise ValueError("stack_cameras: cameras must name at least one camera, got none")
    missing = [name for name in cameras if name not in images]
    if missing:
        raise ValueError(
            f"stack_cameras: no images for cameras {missing}; the observation has {sorted(images)}"
        )
    arrays = [np.asarray(images[name]) for name in cameras]
    shapes = {(a.dtype.str, a.shape) for a in arrays}
    if len(shapes) != 1 or arrays[0].dtype != np.uint8 or arrays[0].shape[-1:] != (3,):
        raise ValueError(
            f"stack_cameras: every camera needs uint8 (..., H, W, 3) images of one shape, got "
            f"{ {name: (str(a.dtype), a.shape) for name, a in zip(cameras, arrays, strict=True)} }"
        )
    return np.stack(arrays, axis=-4)
