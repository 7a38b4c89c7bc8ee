"""One builder per agent kind: what the run loop asks of a kind, and the agent each one builds."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from agents.agent import make_agent
from agents.builders import BUILDERS, agent_builder
from agents.config import AGENT_KINDS, AgentConfig
from agents.diffusion import DiffusionPolicy
from tests.agents.helpers import OBS_DIM, make_images

# kind -> (uses_demos, acts_in, needs_diffusion, has_actor, policy params)
EXPECTED = {
    "dsrl": (False, "noise", True, True, {"actor", "obs_stats", "diffusion"}),
    "dsrl_na": (False, "action", True, True, {"actor", "obs_stats", "diffusion"}),
    "sac": (True, "action", False, True, {"actor", "obs_stats"}),
    "bc": (False, "action", True, False, {"diffusion"}),
}


def test_every_kind_has_one_builder_that_answers_without_building_anything():
    assert tuple(BUILDERS) == AGENT_KINDS == tuple(EXPECTED)
    for kind, (uses_demos, acts_in, needs_diffusion, has_actor, _) in EXPECTED.items():
        builder = agent_builder(kind)
        assert builder.kind == kind
        assert (builder.uses_demos, builder.acts_in) == (uses_demos, acts_in)
        assert (builder.needs_diffusion, builder.has_actor) == (needs_diffusion, has_actor)


def test_unknown_and_renamed_kinds_are_refused_with_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r"must be one of \['dsrl', 'dsrl_na', 'sac', 'bc'\], got 'ppo'"
    ):
        make_agent("ppo", OBS_DIM, AgentConfig.debug())
    with pytest.raises(ValueError, match="'dsrl_sac' is now called 'dsrl'"):
        agent_builder("dsrl_sac")
    with pytest.raises(ValueError, match="obs_dim must be positive"):
        make_agent("sac", 0, AgentConfig.debug())


@pytest.mark.parametrize("kind", AGENT_KINDS)
def test_each_agent_carries_its_builders_answers_and_acts_in_its_space(kind):
    config = AgentConfig.debug()
    uses_demos, acts_in, needs_diffusion, has_actor, policy_names = EXPECTED[kind]
    agent = make_agent(kind, OBS_DIM, config)
    assert (agent.kind, agent.uses_demos, agent.acts_in) == (kind, uses_demos, acts_in)
    assert agent.needs_diffusion == needs_diffusion
    assert (agent.actor_critic is not None) == has_actor
    diffusion = DiffusionPolicy(config.diffusion, OBS_DIM).init(jax.random.key(0))
    state = agent.init(jax.random.key(1), diffusion_params=diffusion if needs_diffusion else None)
    params = agent.policy_params(state)
    assert set(params) == policy_names
    obs = np.zeros((3, OBS_DIM), np.float32)
    step = agent.select_action(params, obs, jax.random.key(2), deterministic=True)
    assert step.actions.shape == (3, 4, 7) and float(np.abs(step.actions).max()) <= 1.0
    assert (step.noise is None) == (kind == "sac")  # only SAC acts on actions directly
    if kind == "bc":  # deterministic: the diffusion policy decodes the zero noise
        np.testing.assert_array_equal(np.asarray(step.noise), 0.0)
    expected_n = 1 if kind == "bc" else config.sac.critic_updates_per_step
    assert agent.batch_shape[0] == expected_n


def _warmup_agent(noise_scale: float, warmup_episodes: int = 2):
    config = AgentConfig.debug()
    dsrl = dataclasses.replace(
        config.dsrl, noise_scale=noise_scale, warmup_episodes=warmup_episodes
    )
    agent = make_agent("dsrl", OBS_DIM, dataclasses.replace(config, dsrl=dsrl))
    diffusion = DiffusionPolicy(config.diffusion, OBS_DIM).init(jax.random.key(1))
    return agent, agent.policy_params(agent.init(jax.random.key(0), diffusion_params=diffusion))


def test_warmup_noise_is_standard_normal_clipped_into_the_box_and_not_the_actors():
    agent, params = _warmup_agent(noise_scale=4.0)  # a box that clips N(0, 1) once in ~16k
    obs = jax.random.normal(jax.random.key(2), (4096, OBS_DIM))
    key = jax.random.key(3)
    warm = agent.select_action(params, obs, key, warmup=True)
    noise = np.asarray(warm.noise)
    assert noise.shape == (4096, 4, 7)
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 1.0) < 0.01
    # Exactly the key's N(0, I) draw, decoded by the base policy, whatever the actor says.
    expected = np.asarray(jax.random.normal(key, (4096, 28))).reshape(noise.shape)
    np.testing.assert_array_equal(noise, np.clip(expected, -4.0, 4.0))
    decoded = agent.policy.sample_flat(params["diffusion"], {"state": obs}, noise.reshape(4096, 28))
    np.testing.assert_allclose(np.asarray(warm.actions).reshape(4096, 28), decoded, atol=1e-6)
    acted = np.asarray(agent.select_action(params, obs, key).noise)
    assert not np.allclose(acted, noise) and np.abs(acted).max() <= 4.0
    # A narrower box clips the draw, as the DSRL code's initial rollouts do.
    agent, params = _warmup_agent(noise_scale=1.5)
    clipped = np.asarray(agent.select_action(params, obs, key, warmup=True).noise)
    np.testing.assert_array_equal(clipped, np.clip(expected, -1.5, 1.5))


def test_only_the_dsrl_kinds_warm_up_and_only_before_the_first_update():
    agent, _ = _warmup_agent(noise_scale=1.5, warmup_episodes=3)
    assert agent.warmup_episodes == 3
    assert agent.warms_up(0) and not agent.warms_up(1)
    agent, _ = _warmup_agent(noise_scale=1.5, warmup_episodes=0)
    assert not agent.warms_up(0)  # the default: the actor acts from the start
    sac = make_agent("sac", OBS_DIM, AgentConfig.debug())
    assert sac.warmup_episodes == 0 and not sac.warms_up(0)
    with pytest.raises(ValueError, match="'sac' has no warm-up"):
        sac.select_action(sac.init(jax.random.key(0)).params, np.zeros(OBS_DIM), jax.random.key(1),
                          warmup=True)


def test_warmup_on_cameras_decodes_the_draw_with_the_base_policys_own_encoder(image_config):
    dsrl = dataclasses.replace(image_config.dsrl, warmup_episodes=1)
    agent = make_agent("dsrl", OBS_DIM, dataclasses.replace(image_config, dsrl=dsrl))
    diffusion = DiffusionPolicy(image_config.diffusion, OBS_DIM).init(jax.random.key(1))
    params = agent.policy_params(agent.init(jax.random.key(0), diffusion_params=diffusion))
    rng = np.random.default_rng(0)
    obs = {"state": rng.normal(size=(8, OBS_DIM)).astype(np.float32),
           "images": make_images(rng, 8)}
    step = agent.select_action(params, obs, jax.random.key(2), warmup=True)
    noise = np.asarray(step.noise).reshape(8, 28)
    decoded = agent.policy.sample_flat(params["diffusion"], obs, noise)
    np.testing.assert_allclose(np.asarray(step.actions).reshape(8, 28), decoded, atol=1e-6)
