"""Running one episode with a policy or the scripted expert, outside and inside Ray actors.

    recorder = make_recorder(config.env)
    episode = collect_episode(recorder, policy_chunks(agent, params, key), seed=3)

A chunk function maps an observation to the next action chunk (H, 7) and the diffusion noise that
produced it (or None). The episode's noise per decision goes into `episode.extra["noise"]`, which
is what DSRL's replay buffer learns from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import numpy as np

import envs
from agents.observation import make_obs
from configs.experiment import EnvConfig
from envs.sim.experts import make_expert

__all__ = [
    "ChunkFn",
    "make_recorder",
    "collect_episode",
    "policy_chunks",
    "expert_chunks",
    "expert_episode",
    "obs_dim_of",
]

ChunkFn = Callable[[dict], tuple[np.ndarray, np.ndarray | None]]


def make_recorder(env_config: EnvConfig, **env_kwargs) -> envs.EpisodeRecorder:
    env = envs.make(env_config.robot, env_config.task, backend=env_config.backend,
                    **{**env_config.make_kwargs(), **env_kwargs})
    return envs.EpisodeRecorder(env, camera=env_config.reward_camera, fps=env_config.video_fps)


def obs_dim_of(recorder: envs.EpisodeRecorder) -> int:
    space = recorder.observation_space
    return int(space["proprio"].shape[0] + (space["state"].shape[0] if "state" in space.spaces else 0))


def collect_episode(
    recorder: envs.EpisodeRecorder, choose_chunk: ChunkFn, seed: int, *, reset: Callable[[], None] | None = None
) -> envs.Episode:
    """Runs one whole episode, chunk by chunk, and returns the recorded `envs.Episode`."""
    obs, _ = recorder.reset(seed=seed)
    if reset is not None:
        reset()
    noises = []
    done = False
    while not done:
        actions, noise = choose_chunk(obs)
        if noise is not None:
            noises.append(np.asarray(noise, np.float32))
        for action in np.asarray(actions, np.float32):
            obs, _, terminated, truncated, _ = recorder.step(action)
            done = terminated or truncated
            if done:
                break
    episode = recorder.last_episode
    if noises:
        episode.extra["noise"] = np.stack(noises)
    return episode


def policy_chunks(agent, params, key: jax.Array, *, deterministic: bool = False) -> ChunkFn:
    """Chunk function of a learned agent; each call folds a fresh counter into `key`."""
    counter = itertools.count()

    def choose(obs: dict) -> tuple[np.ndarray, np.ndarray | None]:
        vector = make_obs(obs["proprio"], obs.get("state"))
        step = agent.select_action(params, vector, jax.random.fold_in(key, next(counter)),
                                   deterministic=deterministic)
        noise = None if step.noise is None else np.asarray(step.noise)
        return np.asarray(step.actions), noise

    return choose


def expert_chunks(recorder: envs.EpisodeRecorder, noise: float, seed: int):
    """(chunk function, reset hook) of the scripted expert: one action per chunk."""
    expert = make_expert(recorder, noise=noise, seed=seed)

    def choose(obs: dict) -> tuple[np.ndarray, None]:
        return expert.act(obs)[None], None

    return choose, expert.reset


def expert_episode(recorder: envs.EpisodeRecorder, noise: float, seed: int) -> envs.Episode:
    """One scripted-expert episode on scene `seed` (the expert's noise is seeded alike)."""
    choose, reset = expert_chunks(recorder, noise, seed)
    return collect_episode(recorder, choose, seed, reset=reset)
