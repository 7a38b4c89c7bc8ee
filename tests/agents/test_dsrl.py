"""DSRL on cameras: the noise actor and critics read [normalised state, frozen base features],
and the replay buffer keeps those features, computed once per frame, in place of the frames; or,
with `dsrl.image_encoder`, an encoder of their own trained on stored frames."""

from __future__ import annotations

import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.config import DSRLConfig
from agents.diffusion import DiffusionPolicy
from agents.learner import make_learner
from agents.networks import ImageEncoder, compute_obs_stats
from tests.agents.helpers import OBS_DIM, make_demo, make_images


def _base_features(encoder_config, diffusion: dict, images: np.ndarray) -> np.ndarray:
    """The base encoder's features computed apart from the agent: each camera alone, in order."""
    encoder = ImageEncoder.from_config(encoder_config)
    variables = {"params": diffusion["net"]["params"]["encoder"]}
    cameras = [encoder.apply(variables, images[:, c : c + 1]) for c in range(images.shape[1])]
    return np.concatenate([np.asarray(f) for f in cameras], axis=-1)


def _learner_on_a_demo(kind: str, config) -> types.SimpleNamespace:
    """A learner of `kind` on a freshly initialised base policy, with one demo episode and its
    camera frames, the obs statistics and the base encoder's features of those frames."""
    rng = np.random.default_rng(0)
    obs, actions = make_demo(rng)
    images = make_images(rng, len(obs))
    stats = compute_obs_stats(rng.normal(2.0, 3.0, size=(64, OBS_DIM)))
    policy = DiffusionPolicy(config.diffusion, OBS_DIM)
    diffusion = policy.init(jax.random.key(0), stats)
    return types.SimpleNamespace(
        rng=rng, obs=obs, actions=actions, images=images, stats=stats, policy=policy,
        diffusion=diffusion,
        learner=make_learner(kind, OBS_DIM, config, diffusion_params=diffusion),
        features=_base_features(config.diffusion.encoder, diffusion, images),
    )


def _assert_noise_is_the_actor_mode(learner, params: dict, noise, features, scale: float):
    """The deterministic noise is scale * tanh(the actor's mean) on exactly `features`."""
    mean, _ = learner.agent.actor_critic.actor.apply(params["actor"], jnp.asarray(features))
    np.testing.assert_allclose(
        np.asarray(noise).reshape(1, -1), scale * np.tanh(np.asarray(mean)), atol=1e-5
    )


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
def test_the_noise_actor_reads_the_state_and_the_frozen_base_encoder_features(kind, image_config):
    setup = _learner_on_a_demo(kind, image_config)
    rng, obs, actions, images, stats = setup.rng, setup.obs, setup.actions, setup.images, setup.stats
    policy, diffusion, learner, features = setup.policy, setup.diffusion, setup.learner, setup.features
    assert features.shape == (len(obs), 2 * image_config.diffusion.encoder.feature_dim)
    expected = np.concatenate([(obs - stats.mean) / stats.std, features], axis=-1)

    # Acting: the deterministic noise is the actor's mode on exactly that input.
    params = learner.get_variables(["policy"])[0]
    step = learner.agent.select_action(
        params, {"state": obs[0], "images": images[0]}, jax.random.key(1), deterministic=True
    )
    _assert_noise_is_the_actor_mode(
        learner, params, step.noise, expected[:1], image_config.dsrl.noise_scale
    )
    # ...and the chunk is the base policy's DDIM output on the raw images for that noise.
    decoded = policy.sample_actions(
        diffusion, {"state": obs[:1], "images": images[:1]}, step.noise[None]
    )
    np.testing.assert_allclose(np.asarray(step.actions), np.asarray(decoded[0]), atol=1e-5)

    # Learning: the buffer holds the features of the decision steps (0, 4, 8, 12, 14), no frames.
    noise = rng.normal(size=(4, 4, 7)).astype(np.float32)
    learner.add_episode(
        obs=obs, actions=actions, reward=1.0, terminal=True, noise=noise, images=images
    )
    replay = learner.replay
    assert replay.frame_spec.key == "features" and replay.frames.dtype == np.float32
    assert not any(isinstance(a, np.ndarray) and a.dtype == np.uint8 for a in vars(replay).values())
    np.testing.assert_allclose(replay.frames[:5], features[[0, 4, 8, 12, 14]], atol=1e-5)
    batch = replay.gather(np.arange(4))
    assert set(batch["obs"]) == {"state", "features"}
    encoded = learner.agent.actor_critic.encode(learner.state.params, batch["obs"])
    np.testing.assert_allclose(np.asarray(encoded), expected[[0, 4, 8, 12]], atol=1e-5)
    # Per step: 2 x 8 float32 features (64 bytes) against 2 x 16 x 16 x 3 uint8 (1,536 bytes).
    frames_bytes = replay.frames.nbytes // replay.frame_capacity
    assert frames_bytes == 64
    # An episode of another length reuses the compiled encoder (frames go in fixed-size blocks).
    short_obs, short_actions = make_demo(rng, steps=9)
    learner.add_episode(
        obs=short_obs,
        actions=short_actions,
        reward=0.0,
        terminal=False,
        noise=noise[:3],
        images=make_images(rng, 10),
    )
    assert replay.num_frames == 5 + 4 and learner._encode_frames._cache_size() == 1


def _trained_encoder_config(image_config, image_encoder: str):
    dsrl = dataclasses.replace(image_config.dsrl, image_encoder=image_encoder, keypoints=3)
    return dataclasses.replace(image_config, dsrl=dsrl)


@pytest.mark.parametrize("image_encoder", ["finetuned", "keypoints", "keypoints_only"])
@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na"])
def test_an_encoder_of_their_own_is_what_actor_and_critics_train_and_the_base_stays(
    kind, image_encoder, image_config
):
    """`dsrl.image_encoder`: "finetuned", a copy of the base encoder, or "keypoints", learned
    colour keypoints beside the frozen features (or alone, "keypoints_only"); each is trained by
    the critic loss on stored frames, and the DDIM decoder keeps reading the frozen base
    encoder."""
    config = _trained_encoder_config(image_config, image_encoder)
    setup = _learner_on_a_demo(kind, config)
    rng, obs, actions, images, stats = setup.rng, setup.obs, setup.actions, setup.images, setup.stats
    policy, diffusion, learner, frozen = setup.policy, setup.diffusion, setup.learner, setup.features
    state = (obs - stats.mean) / stats.std
    params = learner.get_variables(["policy"])[0]
    if image_encoder == "finetuned":  # it starts as the base encoder: what the frozen one shows
        expected = np.concatenate([state, frozen], axis=-1)
    else:  # 3 keypoints a camera (x, y each), projected to 6 numbers a camera
        keypoint_encoder = ImageEncoder.from_config(
            config.dsrl.keypoint_encoder(config.diffusion.encoder)
        )
        assert keypoint_encoder.conv_channels == (3,)
        assert keypoint_encoder.patch_size == config.diffusion.encoder.patch_size
        own = np.asarray(keypoint_encoder.apply(params["encoder"], images))
        assert own.shape == (len(obs), 2 * 6)
        beside = [frozen] if image_encoder == "keypoints" else []
        expected = np.concatenate([state, *beside, own], axis=-1)

    step = learner.agent.select_action(
        params, {"state": obs[0], "images": images[0]}, jax.random.key(1), deterministic=True
    )
    _assert_noise_is_the_actor_mode(
        learner, params, step.noise, expected[:1], config.dsrl.noise_scale
    )

    # The buffer keeps the frames, which the encoder is trained on.
    noise = rng.normal(size=(4, 4, 7)).astype(np.float32)
    for reward in (1.0, 0.0, 1.0):
        learner.add_episode(
            obs=obs, actions=actions, reward=reward, terminal=True, noise=noise, images=images
        )
    assert learner.replay.frame_spec.key == "images" and learner.replay.frames.dtype == np.uint8
    start = jax.device_get(learner.state.params)
    for _ in range(3):
        metrics = learner.step()
    assert np.isfinite(metrics["critic_loss"])
    after = jax.device_get(learner.state.params)
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != b)), start["encoder"],
                                         after["encoder"]))
    assert all(moved), "every encoder weight is trained by the critic loss"
    unchanged = jax.tree.leaves(
        jax.tree.map(np.array_equal, start["diffusion"], after["diffusion"])
    )
    assert all(unchanged), "the base policy, its encoder included, never changes"

    # Acting after training: the actor reads the trained encoder; the chunk is still the base
    # policy's DDIM output on the frozen features of the same images.
    params = learner.get_variables(["policy"])[0]
    frame = {"state": obs[:1], "images": images[:1]}
    step = learner.agent.select_action(params, frame, jax.random.key(1), deterministic=True)
    tuned = learner.agent.actor_critic.encode(params, {**frame, "features": frozen[:1]})
    assert not np.allclose(np.asarray(tuned), expected[:1], atol=1e-6)
    _assert_noise_is_the_actor_mode(learner, params, step.noise, tuned, config.dsrl.noise_scale)
    decoded = policy.sample_actions(diffusion, frame, step.noise)
    np.testing.assert_allclose(np.asarray(step.actions), np.asarray(decoded), atol=1e-5)


def test_dsrl_refuses_an_unknown_image_encoder():
    with pytest.raises(ValueError, match="image_encoder must be one of"):
        DSRLConfig(image_encoder="cnn")
