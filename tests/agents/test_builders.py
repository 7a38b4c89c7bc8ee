"""One builder per agent kind: what the run loop asks of a kind, and the agent each one builds."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.agent import make_agent
from agents.builders import BUILDERS, agent_builder
from agents.config import AGENT_KINDS, AgentConfig
from agents.diffusion import DiffusionPolicy
from tests.agents.helpers import OBS_DIM

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
