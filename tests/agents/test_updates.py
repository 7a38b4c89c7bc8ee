"""Pure updates: a few steps on a fixed batch lower the loss; `update` is traced exactly once."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.bc import bc_weights
from agents.config import BCConfig
from agents.diffusion import DiffusionPolicy
from agents.learner import make_learner
from tests.agents.helpers import OBS_DIM, make_demo


def _fill(learner, rng: np.random.Generator, episodes: int = 6) -> None:
    """Online episodes with mixed outcomes (and demos for agents that learn on actions)."""
    for i in range(episodes):
        obs, actions = make_demo(rng)
        noise = rng.normal(size=(4, 4, 7)).astype(np.float32)  # ceil(14 / 4) decisions
        reward = 1.0 if i % 2 else 0.0
        learner.add_episode(
            obs=obs, actions=actions, reward=reward, terminal=bool(i % 2), noise=noise
        )
        if learner.agent.acts_in == "action":
            learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True, demo=True)


@pytest.mark.parametrize("kind", ["dsrl", "dsrl_na", "sac", "bc"])
def test_updates_on_a_fixed_batch_lower_the_loss_without_retracing(kind, config, pretrained):
    params, _ = pretrained
    if kind == "bc":  # the pretrained policy already fits the demos: fine-tune a fresh one
        params = DiffusionPolicy(config.diffusion, OBS_DIM).init(
            jax.random.key(5), params["obs_stats"]
        )
    sac = dataclasses.replace(config.sac, critic_lr=1e-3, actor_lr=1e-3)
    config = dataclasses.replace(config, sac=sac)
    learner = make_learner(kind, OBS_DIM, config, diffusion_params=params)
    rng = np.random.default_rng(1)
    _fill(learner, rng)
    batch = learner.sample_batch()
    assert batch["agent_action"].shape == (*learner.agent.batch_shape, 28)
    loss_fn = jax.jit(learner.agent.loss)
    key = jax.random.key(3)
    before = float(loss_fn(learner.state, batch, key))
    for _ in range(8):
        metrics = learner.update(batch)
    after = float(loss_fn(learner.state, batch, key))
    assert np.isfinite(before) and after < 0.9 * before, (before, after)
    assert ("bc_loss" if kind == "bc" else "critic_loss") in metrics
    # More data (the buffer grows), fresh batches: still the one compiled update.
    _fill(learner, rng, episodes=2)
    for _ in range(2):
        learner.step()
    assert learner.num_traces == 1
    assert int(learner.state.step) == learner.counters["updates"] == 10
    if kind != "bc":  # DSRL's base policy is frozen (and SAC carries none)
        frozen = learner.state.params.get("diffusion", params)
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(frozen), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bc_weights_filter_or_weight_by_episode_return():
    returns = jnp.array([0.0, 0.25, 0.5, 1.0])
    config = BCConfig(return_threshold=0.5, temperature=0.25)
    np.testing.assert_array_equal(bc_weights(returns, "filtered", config), [0, 0, 1, 1])
    np.testing.assert_allclose(
        bc_weights(returns, "weighted", config), np.exp((np.array(returns) - 1.0) / 0.25), rtol=1e-6
    )
    assert bc_weights(returns, "none", config) is None
    with pytest.raises(ValueError, match="weighting"):
        bc_weights(returns, "best", config)


def test_critic_targets_td_or_monte_carlo_clipped_to_the_return_range():
    from agents.agent import make_agent
    from agents.config import AgentConfig

    batch = {
        "steps_to_end": jnp.array([0.0, 1.0, 3.0]),
        "episode_return": jnp.array([1.0, 0.5, 1.0]),
    }
    base = AgentConfig.debug()
    mc = dataclasses.replace(base.sac, critic_target="mc", discount=0.9)
    actor_critic = make_agent("dsrl", OBS_DIM, dataclasses.replace(base, sac=mc)).actor_critic
    np.testing.assert_allclose(
        actor_critic.finish_target(jnp.full(3, 7.0), batch), [1.0, 0.45, 0.729], rtol=1e-6
    )
    clipped = dataclasses.replace(base.sac, target_range=(0.0, 1.0))
    actor_critic = make_agent("dsrl", OBS_DIM, dataclasses.replace(base, sac=clipped)).actor_critic
    np.testing.assert_allclose(
        actor_critic.finish_target(jnp.array([-0.5, 0.3, 7.0]), batch), [0.0, 0.3, 1.0]
    )
    with pytest.raises(ValueError, match="critic_target"):
        dataclasses.replace(base.sac, critic_target="lambda")


def _climb_a_rising_critic(config, diffusion_params, obs: dict, steps: int):
    """A DSRL agent's (agent, fresh state, state after `steps` actor steps) against a critic that
    rewards every noise dimension alike, Q = 0.1 * sum(w)."""
    from agents.agent import make_agent

    def q_fn(params, features, noise):
        return 0.1 * jnp.sum(noise, axis=-1)

    agent = make_agent("dsrl", OBS_DIM, config)
    state = agent.init(jax.random.key(0), diffusion_params=diffusion_params)
    ac = agent.actor_critic
    features = ac.actor_features(state.params, obs)
    step = jax.jit(lambda p, o, k: ac.actor_and_temperature_step(p, o, features, k, q_fn))
    p, o = state.params, state.opt_state
    for i in range(steps):
        p, o, _ = step(p, o, jax.random.key(i))
    return agent, state, state.replace(params=p, opt_state=o)


def test_noise_prior_holds_the_dsrl_actor_near_zero_noise(config, pretrained):
    """Against a critic that rewards every noise dimension alike (Q = 0.1 * sum(w)), the actor
    runs to the noise bound; with the prior weight 1 its optimum is w = 0.1 per dimension."""
    params, _ = pretrained
    obs = {"state": jnp.asarray(np.random.default_rng(0).normal(size=(64, OBS_DIM)), jnp.float32)}
    mean_noise = {}
    for weight in (0.0, 1.0):
        dsrl = dataclasses.replace(config.dsrl, noise_scale=1.0, noise_prior_weight=weight)
        sac = dataclasses.replace(config.sac, actor_lr=1e-2, init_temperature=1e-4)
        agent, _, state = _climb_a_rising_critic(
            dataclasses.replace(config, dsrl=dsrl, sac=sac), params, obs, steps=300
        )
        mode, _ = agent.actor_critic.sample(state.params, obs, None)
        mean_noise[weight] = float(jnp.mean(mode))
    assert mean_noise[0.0] > 0.8, mean_noise  # pushed towards the bound of 1
    assert 0.03 < mean_noise[1.0] < 0.2, mean_noise
    with pytest.raises(ValueError, match="noise_prior_weight"):
        dataclasses.replace(config.dsrl, noise_prior_weight=-0.1)


def test_the_averaged_actor_acts_and_trails_the_trained_one(config, pretrained):
    """With `sac.actor_average_tau` the policy an actor gets is a Polyak average of the trained
    actor: tau 1 is the trained actor itself, a small tau lags behind it on the way to the bound."""
    params, _ = pretrained
    obs = {"state": jnp.asarray(np.random.default_rng(0).normal(size=(64, OBS_DIM)), jnp.float32)}

    def mean_mode(agent, actor_params: dict) -> float:
        mode, _ = agent.actor_critic.sample(actor_params, obs, None)
        return float(jnp.mean(mode))

    modes = {}
    for tau in (1.0, 0.05):
        sac = dataclasses.replace(
            config.sac, actor_lr=1e-2, init_temperature=1e-4, actor_average_tau=tau
        )
        agent, start, end = _climb_a_rising_critic(
            dataclasses.replace(config, sac=sac), params, obs, steps=20
        )
        modes[tau] = (
            mean_mode(agent, agent.policy_params(start)),
            mean_mode(agent, agent.policy_params(end)),  # what an actor gets: the average
            mean_mode(agent, end.params),  # the trained actor
        )
    start, averaged, trained = modes[1.0]
    assert averaged == pytest.approx(trained) and trained > start + 0.3, modes
    start, averaged, trained = modes[0.05]
    assert start + 0.05 < averaged < trained - 0.1, modes  # 20 steps at 0.05: partly caught up
    with pytest.raises(ValueError, match="actor_average_tau"):
        dataclasses.replace(config.sac, actor_average_tau=0.0)
