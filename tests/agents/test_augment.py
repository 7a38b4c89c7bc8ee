"""DrQ's random shift: same shape and dtype, identity at pad 0, content moved by at most pad."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.augment import augment_images, random_shift


def _crops(image: np.ndarray, pad: int) -> list[np.ndarray]:
    """Every crop back to size of the edge-padded image: the shifts the augmentation may pick."""
    h, w = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return [padded[i : i + h, j : j + w] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]


def test_random_shift_keeps_shape_and_dtype_and_pad_0_is_the_identity():
    images = np.random.default_rng(0).integers(0, 256, (3, 2, 16, 16, 3), dtype=np.uint8)
    shifted = random_shift(images, jax.random.key(0), 4)
    assert shifted.shape == images.shape and shifted.dtype == np.uint8
    np.testing.assert_array_equal(random_shift(images, jax.random.key(0), 0), images)
    obs = {"state": np.zeros((3, 5)), "images": images}
    assert augment_images(obs, jax.random.key(0), 0) is obs
    assert augment_images({"state": obs["state"]}, jax.random.key(0), 4)["state"] is obs["state"]
    with pytest.raises(ValueError, match="pad must be >= 0"):
        random_shift(images, jax.random.key(0), -1)


def test_random_shift_moves_each_image_by_at_most_pad_pixels_with_its_own_offset():
    pad = 3
    images = np.zeros((32, 2, 16, 16, 3), np.uint8)
    images[..., 8, 8, :] = 255  # one bright pixel in the middle of every camera image
    shifted = np.asarray(random_shift(images, jax.random.key(1), pad))
    moves = set()
    for image in shifted.reshape(-1, 16, 16, 3):
        rows, cols = np.nonzero(image[..., 0])
        assert len(rows) == 1  # moved, not smeared or lost
        assert abs(rows[0] - 8) <= pad and abs(cols[0] - 8) <= pad
        moves.add((int(rows[0]), int(cols[0])))
    assert len(moves) > 10  # each image (and camera) draws its own offset
    # Textured images: every output is one of the allowed crops of its edge-padded input.
    texture = np.random.default_rng(2).integers(0, 256, (4, 1, 12, 12, 3), dtype=np.uint8)
    out = np.asarray(random_shift(texture, jax.random.key(3), pad))
    for image, result in zip(texture[:, 0], out[:, 0], strict=True):
        assert any(np.array_equal(result, crop) for crop in _crops(image, pad))
    other = np.asarray(random_shift(texture, jax.random.key(4), pad))
    assert not np.array_equal(out, other)  # another key, other shifts
