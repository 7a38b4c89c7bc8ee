"""Diffusion policy: schedule, deterministic bounded DDIM, DSRL's noise -> action map, BC pretraining."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from agents.agent import make_agent
from agents.diffusion import DiffusionPolicy, cosine_alpha_bars, ddim_timesteps
from tests.agents.helpers import OBS_DIM, expert_actions, make_demo


def test_schedule_runs_from_clean_to_noise_and_ddim_visits_t_down_to_1():
    ab = cosine_alpha_bars(10)
    assert ab.shape == (11,) and ab[0] == 1.0
    assert np.all(np.diff(ab) < 0) and ab[-1] < 1e-2
    steps = ddim_timesteps(10, 5)
    assert len(steps) == 5 and steps[0] == 10 and steps[-1] == 1
    assert all(a > b for a, b in zip(steps, steps[1:], strict=False))
    assert ddim_timesteps(10, 10) == list(range(10, 0, -1))


def test_sample_actions_is_a_deterministic_bounded_function_of_the_noise(config):
    policy = DiffusionPolicy(config.diffusion, OBS_DIM)
    params = policy.init(jax.random.key(1))
    obs = jax.random.normal(jax.random.key(2), (8, OBS_DIM))
    noise = 3.0 * jax.random.normal(jax.random.key(3), (8, 4, 7))
    first = policy.sample_actions_jit(params, obs, noise)
    again = policy.sample_actions_jit(params, obs, noise)
    eager = policy.sample_actions(params, obs, noise)
    assert first.shape == (8, 4, 7)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    np.testing.assert_allclose(np.asarray(first), np.asarray(eager), atol=1e-5)
    assert float(jnp.max(jnp.abs(policy.sample_actions_jit(params, obs, 100.0 * noise)))) <= 1.0
    other = policy.sample_actions_jit(params, obs, -noise)
    assert float(jnp.max(jnp.abs(other - first))) > 1e-3  # the noise steers the output


def test_dsrl_policy_maps_bounded_noise_to_actions_deterministically(config, pretrained):
    params, _ = pretrained
    agent = make_agent("dsrl", OBS_DIM, config)
    policy_params = agent.policy_params(agent.init(jax.random.key(0), diffusion_params=params))
    obs = np.random.default_rng(5).uniform(-1, 1, (16, OBS_DIM)).astype(np.float32)
    key = jax.random.key(7)
    step = agent.select_action(policy_params, obs, key, deterministic=False)
    again = agent.select_action(policy_params, obs, key, deterministic=False)
    assert step.actions.shape == (16, 4, 7) and step.noise.shape == (16, 4, 7)
    np.testing.assert_array_equal(np.asarray(step.actions), np.asarray(again.actions))
    assert float(jnp.max(jnp.abs(step.noise))) <= config.dsrl.noise_scale
    assert float(jnp.max(jnp.abs(step.actions))) <= 1.0
    # The executed chunk is exactly the frozen diffusion policy's DDIM output for that noise.
    decoded = agent.policy.sample_actions_jit(params, obs, step.noise)
    np.testing.assert_allclose(np.asarray(step.actions), np.asarray(decoded), atol=1e-6)
    # One observation (D,) gives one chunk (H, 7); the deterministic mode ignores the key.
    single = agent.select_action(policy_params, obs[0], jax.random.key(1), deterministic=True)
    other = agent.select_action(policy_params, obs[0], jax.random.key(2), deterministic=True)
    assert single.actions.shape == (4, 7)
    np.testing.assert_array_equal(np.asarray(single.actions), np.asarray(other.actions))


def test_bc_pretraining_lowers_the_loss_and_samples_approach_the_expert(config, pretrained):
    params, metrics = pretrained
    assert metrics["steps"] == config.diffusion.pretrain_steps
    assert metrics["samples"] == 32 * 14
    assert metrics["loss_final"] < 0.1 * metrics["loss_initial"]
    assert metrics["action_mse"] < 0.01
    # Held-out episodes (new goals): sampled chunks from random noise match the expert's chunk.
    policy = DiffusionPolicy(config.diffusion, OBS_DIM)
    obs = np.stack([make_demo(np.random.default_rng(100 + i))[0][0] for i in range(64)])
    target = np.repeat(expert_actions(obs)[:, None, :], 4, axis=1)
    noise = jax.random.normal(jax.random.key(11), (64, 4, 7))
    trained = np.asarray(policy.sample_actions_jit(params, obs, noise))
    untrained = np.asarray(policy.sample_actions_jit(policy.init(jax.random.key(3)), obs, noise))
    trained_mse = float(np.mean((trained - target) ** 2))
    assert trained_mse < 0.02
    assert float(np.mean((untrained - target) ** 2)) > 10 * trained_mse
