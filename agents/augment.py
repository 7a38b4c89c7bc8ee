"""Image augmentation for training on pixels: DrQ's random shift, a pure function of a key.

Each image is padded by `pad` pixels on every side with edge replication and cropped back to its
size at a random integer offset, so its content moves by at most `pad` pixels along each axis
(Kostrikov et al. 2020, "Image augmentation is all you need"). Every camera image of every sample
gets its own offset. Only training uses it: acting and the frozen DSRL features see the raw frames.

    obs = augment_images(obs, key, pad=4)   # obs["images"] shifted; other entries untouched
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["augment_images", "random_shift"]


def random_shift(images: jax.Array, key: jax.Array, pad: int) -> jax.Array:
    """Shifts each (H, W, 3) image of `images` (..., H, W, 3) by its own offset in [-pad, pad]^2.

    Keeps shape and dtype; `pad=0` returns `images` itself.
    """
    if pad < 0:
        raise ValueError(f"random_shift: pad must be >= 0, got {pad}")
    if pad == 0:
        return images
    h, w, c = images.shape[-3:]
    flat = images.reshape((-1, h, w, c))
    padded = jnp.pad(flat, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    offsets = jax.random.randint(key, (flat.shape[0], 2), 0, 2 * pad + 1)

    def crop(image: jax.Array, offset: jax.Array) -> jax.Array:
        return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))

    return jax.vmap(crop)(padded, offsets).reshape(images.shape)


def augment_images(obs: dict[str, Any], key: jax.Array, pad: int) -> dict[str, Any]:
    """`obs` with its "images" randomly shifted (see `random_shift`); without images, `obs`."""
    if "images" not in obs or pad == 0:
        return obs
    return {**obs, "images": random_shift(obs["images"], key, pad)}
