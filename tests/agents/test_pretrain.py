"""BC pretraining on camera images: the policy must read the images to imitate the demos."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from agents.checkpoint import load_diffusion, save_diffusion
from agents.diffusion import DiffusionPolicy
from agents.pretrain import pretrain_diffusion
from tests.agents.helpers import OBS_DIM


def _bright_side_demo(rng: np.random.Generator, left: bool, steps: int = 8):
    """Action +0.8 if the left half of the front camera is bright, else -0.8; the state is noise
    and the wrist camera shows noise, so only the front image tells the two apart."""
    images = rng.integers(0, 60, size=(steps + 1, 2, 16, 16, 3), dtype=np.uint8)
    half = slice(0, 8) if left else slice(8, 16)
    images[:, 0, :, half] += 180
    obs = rng.normal(size=(steps + 1, OBS_DIM)).astype(np.float32)
    actions = np.full((steps, 7), 0.8 if left else -0.8, np.float32)
    return obs, actions, images


def test_pretraining_on_images_learns_an_action_only_the_images_tell(image_config, tmp_path):
    config = dataclasses.replace(
        image_config.diffusion,
        hidden_dims=(64, 64),
        learning_rate=3e-3,
        batch_size=64,
        pretrain_steps=200,
    )
    rng = np.random.default_rng(0)
    demos = [_bright_side_demo(rng, left=bool(i % 2)) for i in range(24)]
    params, metrics = pretrain_diffusion(demos, config, jax.random.key(0))
    assert metrics["loss_final"] < 0.2 * metrics["loss_initial"], metrics
    # A policy blind to the images could at best output 0 (squared error 0.64) or guess a side.
    assert metrics["action_mse"] < 0.05, metrics
    # Held-out scenes: the sampled chunk follows the bright side, and swapping the front images
    # of the two scenes swaps the actions.
    policy = DiffusionPolicy(config, OBS_DIM)
    left, right = (_bright_side_demo(np.random.default_rng(9), left=s) for s in (True, False))
    state = np.stack([left[0][0], right[0][0]])
    images = np.stack([left[2][0], right[2][0]])
    noise = jax.random.normal(jax.random.key(1), (2, 4, 7))
    chunks = np.asarray(policy.sample_actions(params, {"state": state, "images": images}, noise))
    np.testing.assert_allclose(chunks[0], 0.8, atol=0.2)
    np.testing.assert_allclose(chunks[1], -0.8, atol=0.2)
    swapped = images.copy()
    swapped[:, 0] = images[::-1, 0]
    flipped = policy.sample_actions(params, {"state": state, "images": swapped}, noise)
    assert np.all(np.sign(np.asarray(flipped)) == -np.sign(chunks))
    # The checkpoint `rrl pretrain` writes brings the image encoder back.
    save_diffusion(tmp_path / "base", params, config, OBS_DIM, metrics)
    loaded, loaded_config, _ = load_diffusion(tmp_path / "base")
    assert loaded_config == config
    again = policy.sample_actions(loaded, {"state": state, "images": images}, noise)
    np.testing.assert_allclose(np.asarray(again), chunks, atol=1e-6)


def test_pretraining_on_images_refuses_demos_without_them(image_config):
    obs, actions, images = _bright_side_demo(np.random.default_rng(0), left=True)
    with pytest.raises(ValueError, match=r"sees 2 camera\(s\); demo 0 .*got no images"):
        pretrain_diffusion([(obs, actions)], image_config, jax.random.key(0))
    with pytest.raises(ValueError, match=r"demo 0 .*got uint8 \(9, 1, 16, 16, 3\)"):
        pretrain_diffusion([(obs, actions, images[:, :1])], image_config, jax.random.key(0))
