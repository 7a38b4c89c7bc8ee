"""SAC on pixels (DrQ-v2): one CNN shared by the critic ensemble, trained by the critic loss only;
and the actor's std at init (DSRL's log std 0)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.actor_critic import ActorCritic
from agents.agent import make_agent
from agents.config import AgentConfig, SACConfig
from agents.networks import ObsStats
from tests.agents.helpers import OBS_DIM, make_images


def _paths(tree) -> list[str]:
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(tree)]


def _obs(batch: int = 16) -> dict:
    rng = np.random.default_rng(0)
    state = rng.normal(size=(batch, OBS_DIM)).astype(np.float32)
    return {"state": jnp.asarray(state), "images": jnp.asarray(make_images(rng, batch))}


def test_the_critic_ensemble_shares_one_image_encoder(image_config):
    agent = make_agent("sac", OBS_DIM, image_config)
    state = agent.init(jax.random.key(0))
    params = state.params
    conv_paths = [p for p in _paths(params) if "Conv" in p]
    assert conv_paths and all(p.startswith("['encoder']") for p in conv_paths)
    # One encoder: its kernels carry no ensemble axis, unlike the critic heads'.
    kernel = params["encoder"]["params"]["Conv_0"]["kernel"]
    assert kernel.shape == (4, 4, 3, 4)  # the patchify stem: 4x4 patches, 4 channels
    heads = params["critic"]["params"]["VmapMLP_0"]["Dense_0"]["kernel"]
    num_critics = image_config.sac.num_critics
    features = OBS_DIM + 2 * image_config.diffusion.encoder.feature_dim  # state, two cameras
    assert heads.shape == (num_critics, features + 28, 32)
    for name in ("critic", "target_critic", "actor"):
        assert not any("Conv" in p for p in _paths(params[name])), name
    assert "encoder" in state.opt_state and "encoder" in agent.policy_params(state)


def test_the_actor_loss_leaves_the_encoder_alone_and_the_critic_loss_trains_it(image_config):
    agent = make_agent("sac", OBS_DIM, image_config)
    ac = agent.actor_critic
    params = agent.init(jax.random.key(0)).params
    obs, key = _obs(), jax.random.key(1)

    def q_fn(params, features, action):
        return jnp.mean(ac.q_values(params, "critic", features, action), axis=0)

    def actor_loss(params, features_of):
        return ac.actor_loss(params, features_of(params, obs), key, q_fn)[0]

    grad = jax.jit(jax.grad(actor_loss), static_argnums=1)
    grads = grad(params, ac.actor_features)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads["encoder"]))
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(grads["actor"]))
    # Without the stop the same loss would reach the encoder: the zero above is the stop's doing.
    unstopped = grad(params, ac.encode)
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(unstopped["encoder"]))
    target = jnp.ones((16,))
    action = jnp.zeros((16, ac.action_dim))
    critic_grads = jax.grad(lambda p: ac.regression_loss(p, "critic", obs, action, target)[0])(
        params
    )
    assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(critic_grads["encoder"]))


def test_critic_updates_see_shifted_images_of_obs_and_next_obs(image_config):
    ac = make_agent("sac", OBS_DIM, image_config).actor_critic
    obs = _obs()
    mb = {"obs": obs, "next_obs": obs, "reward": jnp.zeros((16,))}
    shifted = ac.augment(mb, jax.random.key(0))
    assert shifted["obs"]["images"].shape == obs["images"].shape
    assert not np.array_equal(shifted["obs"]["images"], obs["images"])
    assert not np.array_equal(shifted["obs"]["images"], shifted["next_obs"]["images"])
    np.testing.assert_array_equal(shifted["obs"]["state"], obs["state"])


def test_init_log_std_starts_the_actor_at_that_std_with_its_mean_near_zero():
    """DSRL's noise actor starts at std 1 (log std 0) around w = 0; None keeps the default init."""
    features = jax.random.normal(jax.random.key(3), (512, OBS_DIM))
    sac = AgentConfig.debug().sac
    log_stds = {}
    for init_log_std in (None, 0.0, -1.0):
        config = SACConfig(hidden_dims=sac.hidden_dims, init_log_std=init_log_std)
        ac = ActorCritic(config, AgentConfig.debug().diffusion.encoder, 28, action_scale=1.5)
        params = ac.init_params(jax.random.key(0), OBS_DIM, ObsStats.identity(OBS_DIM))
        mean, log_std = ac.actor.apply(params["actor"], features)
        log_stds[init_log_std] = np.asarray(log_std)
        if init_log_std is not None:
            np.testing.assert_allclose(log_std, init_log_std, atol=0.1)  # the head starts small
            assert abs(float(log_std.mean()) - init_log_std) < 0.02
            assert float(jnp.abs(mean).max()) < 0.1
    np.testing.assert_allclose(np.exp(log_stds[0.0]).mean(), 1.0, atol=0.05)
    assert abs(log_stds[None].mean() - 0.0) > 0.5  # the default init is not std 1
    # Samples at init: w = 1.5 * tanh(u), u ~ N(~0, 1): spread over the box, centred on 0.
    config = SACConfig(hidden_dims=sac.hidden_dims, init_log_std=0.0)
    ac = ActorCritic(config, AgentConfig.debug().diffusion.encoder, 28, action_scale=1.5)
    params = ac.init_params(jax.random.key(0), OBS_DIM, ObsStats.identity(OBS_DIM))
    w, _ = ac.sample_from(params["actor"], features, jax.random.key(4))
    assert abs(float(w.mean())) < 0.05 and 0.8 < float(w.std()) < 1.0


def test_init_log_std_outside_the_actors_range_is_refused():
    for bad in (2.0, -5.0, 3.0):
        with pytest.raises(ValueError, match=r"init_log_std must be None .* in \(-5.0, 2.0\)"):
            SACConfig(init_log_std=bad)
