"""DSRL's warm-up in the env actor: before the learner's first update the base policy acts.

The env actor runs here as a plain object on the WidowX sim twin (no Ray): an episode handed
params of version 0 plays w ~ N(0, I) clipped into the noise box; later versions play the actor.
"""

import jax
import numpy as np
import pytest

import envs
from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from experiments.rundir import RunDir
from experiments.training.actors import EnvActor
from experiments.training.rollouts import policy_observation


@pytest.fixture(scope="module")
def actor(tmp_path_factory):
    config = apply_overrides(get_config("debug"), ["agent.dsrl.warmup_episodes=2"])
    run = RunDir(tmp_path_factory.mktemp("run")).create()
    actor = EnvActor(0, config_to_dict(config), str(run.root))
    yield actor
    actor.estop.close()


@pytest.fixture(scope="module")
def params(actor):
    """The policy params of a fresh learner on a random base policy (statistics need no skill)."""
    agent = actor.agent
    diffusion = agent.policy.init(jax.random.key(1))
    return agent.policy_params(agent.init(jax.random.key(0), diffusion_params=diffusion))


def _stored_noise(actor: EnvActor, summary: dict) -> tuple[np.ndarray, dict]:
    episode = envs.Episode.load(actor.run.episode_path(summary["episode_id"]), with_video=False)
    return episode.extra["noise"], episode.metadata


def _warmup_draws(actor: EnvActor, episode_index: int, decisions: int) -> np.ndarray:
    """The N(0, I) draws the warm-up policy makes: one per decision, keyed as policy_chunks does."""
    key = jax.random.fold_in(actor.key, episode_index)
    size = actor.agent.config.diffusion.flat_action_dim
    scale = actor.agent.config.dsrl.noise_scale
    draws = [jax.random.normal(jax.random.fold_in(key, i), (1, size)) for i in range(decisions)]
    return np.clip(np.concatenate(draws), -scale, scale).reshape(decisions, 4, 7)


def test_episodes_before_the_first_update_play_standard_normal_noise(actor, params):
    noises = []
    for index in range(6):
        summary = actor.run_episode(params, 0, index)
        noise, metadata = _stored_noise(actor, summary)
        assert summary["warmup"] and metadata["warmup"]
        np.testing.assert_array_equal(noise, _warmup_draws(actor, index, len(noise)))
        noises.append(noise)
    draws = np.concatenate(noises).ravel()  # 6 episodes x 4 decisions x 28 numbers
    scale = actor.agent.config.dsrl.noise_scale
    assert np.abs(draws).max() <= scale
    # N(0, 1) clipped at 1.5 has mean 0 and std 0.87; 672 draws pin them to ~0.04.
    assert abs(draws.mean()) < 0.12 and abs(draws.std() - 0.87) < 0.08


def test_episodes_after_the_first_update_play_the_noise_actor(actor, params):
    summary = actor.run_episode(params, 1, 10)
    noise, metadata = _stored_noise(actor, summary)
    assert not summary["warmup"] and not metadata["warmup"]
    assert not np.allclose(noise, _warmup_draws(actor, 10, len(noise)))
    # The same params, version and observation give the actor's own choice.
    episode = envs.Episode.load(actor.run.episode_path(summary["episode_id"]), with_video=False)
    first_obs = {"proprio": episode.proprio[0], "state": episode.states[0]}
    key = jax.random.fold_in(jax.random.fold_in(actor.key, 10), 0)
    step = actor.agent.select_action(params, policy_observation(first_obs, actor.spec), key)
    np.testing.assert_allclose(noise[0], np.asarray(step.noise), atol=1e-6)


def test_without_warmup_the_actor_plays_from_the_first_episode(tmp_path):
    config = get_config("debug")
    assert config.agent.dsrl.warmup_episodes == 0
    run = RunDir(tmp_path / "run").create()
    actor = EnvActor(0, config_to_dict(config), str(run.root))
    try:
        agent = actor.agent
        diffusion = agent.policy.init(jax.random.key(1))
        params = agent.policy_params(agent.init(jax.random.key(0), diffusion_params=diffusion))
        summary = actor.run_episode(params, 0, 0)
        assert not summary["warmup"]
    finally:
        actor.estop.close()
