"""Named experiment configs: `rrl train <name> [key.path=value ...]`.

    config = configs.get_config("widowx_pick_place_dsrl")

Names are `<robot>_<task>_<agent>` for robot in {franka, widowx}, task in {pick_place,
open_drawer} and agent in {dsrl (DSRL-SAC, the paper's method), dsrl_na, sac (RLPD-style SAC on
actions), bc (reward-filtered BC fine-tuning)}, plus `debug`, a tiny config for tests.
"""

from __future__ import annotations

import dataclasses
import difflib

from agents.config import AgentConfig
from configs.experiment import (
    EnvConfig,
    ExperimentConfig,
    PretrainConfig,
    RewardConfig,
    RunConfig,
)

__all__ = [
    "get_config",
    "names",
    "ExperimentConfig",
    "EnvConfig",
    "RewardConfig",
    "PretrainConfig",
    "RunConfig",
]

_AGENTS = {"dsrl": "dsrl_sac", "dsrl_na": "dsrl_na", "sac": "sac", "bc": "bc"}


# Per robot and task, the scripted demonstrations: (expert noise, episodes). Chosen so the BC
# base policy is clearly imperfect when it samples its noise while its zero-noise output is far
# better, so that noise-space RL can steer it there and beyond, as with the paper's pretrained
# policies. Success on 50 held-out scenes, sampled / zero noise: WidowX 36 / 80 % (pick_place)
# and 34 / 92 % (open_drawer); Franka 32 / 58 % and 36 / 96 %. Franka's pick_place at noise 0.3
# gave 10 / 13 % (30 scenes): its grasps fail more often under the same noise.
_DEMOS = {
    ("widowx", "pick_place"): (0.3, 100),
    ("widowx", "open_drawer"): (0.22, 50),
    ("franka", "pick_place"): (0.2, 100),
    ("franka", "open_drawer"): (0.22, 50),
}


def _named(robot: str, task: str, agent: str) -> ExperimentConfig:
    base = AgentConfig()
    # One reward at the end of each episode, judging its final state: nothing follows the last
    # transition, so it is not bootstrapped even when the episode ended on the time limit.
    replay = dataclasses.replace(base.replay, bootstrap_time_limit=False, utd_ratio=2.0)
    # The critic regresses on each episode's discounted return, bounded to the reward's range:
    # with bootstrapped targets the actor chased critic overestimates in the 28-D noise space
    # (Q rose far above any reward) and success did not improve (see the README's figures).
    sac = dataclasses.replace(base.sac, critic_target="mc", target_range=(0.0, 1.0), temperature_lr=1e-3)
    dsrl = base.dsrl
    if agent in ("dsrl", "dsrl_na"):
        # The noise actor starts near w = 0, the base policy's most likely chunk. Fitting the
        # critic on 20 episodes before the first update, keeping more entropy, bounding the
        # noise at 1 (not 1.5), averaging 5 critics and a Gaussian prior on the noise keep an
        # early, noisy critic from pulling it off that mode where it knows nothing better
        # (pick_place figures in the README).
        replay = dataclasses.replace(replay, min_transitions=400)
        sac = dataclasses.replace(sac, target_entropy_scale=0.25, num_critics=5)
        dsrl = dataclasses.replace(dsrl, noise_scale=1.0, noise_prior_weight=0.2)
    demo_noise, demo_episodes = _DEMOS[robot, task]
    return ExperimentConfig(
        name=f"{robot}_{task}_{agent}",
        agent_kind=_AGENTS[agent],
        env=EnvConfig(robot=robot, task=task),
        agent=dataclasses.replace(base, replay=replay, sac=sac, dsrl=dsrl),
        pretrain=PretrainConfig(demo_noise=demo_noise, demo_episodes=demo_episodes),
        # A sim twin steps ~50x faster than a robot: pace it to the learner (see RunConfig). On a
        # robot, run.max_learner_lag=0 so that the arm never waits.
        run=RunConfig(max_learner_lag=4),
    )


def _debug() -> ExperimentConfig:
    """Seconds, not minutes: tiny networks, short episodes, a handful of them."""
    agent = AgentConfig.debug()
    agent = dataclasses.replace(
        agent,
        diffusion=dataclasses.replace(agent.diffusion, pretrain_steps=50),
        replay=dataclasses.replace(agent.replay, min_transitions=4),
    )
    return ExperimentConfig(
        name="debug",
        env=EnvConfig(robot="widowx", task="open_drawer", max_episode_steps=16),
        agent=agent,
        pretrain=PretrainConfig(demo_episodes=2, demo_noise=0.1),
        run=RunConfig(episodes=6, env_actors=2, checkpoint_every=2, eval_episodes=2),
    )


_REGISTRY: dict[str, ExperimentConfig] = {
    config.name: config
    for config in (
        _named(robot, task, agent)
        for robot in ("widowx", "franka")
        for task in ("pick_place", "open_drawer")
        for agent in _AGENTS
    )
}
_REGISTRY["debug"] = _debug()


def names() -> list[str]:
    return sorted(_REGISTRY)


def get_config(name: str) -> ExperimentConfig:
    """The named config; an unknown name suggests the closest ones."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, _REGISTRY, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown config {name!r}{hint} (all configs: {', '.join(names())})")
