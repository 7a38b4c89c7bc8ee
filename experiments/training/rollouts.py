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
from agents.observation import make_obs, stack_cameras
from configs.experiment import EnvConfig
from envs.observation_spec import ObservationSpec
from envs.sim.experts import make_expert

__all__ = [
    "ChunkFn",
    "make_recorder",
    "collect_episode",
    "policy_chunks",
    "expert_chunks",
    "expert_episode",
    "obs_dim_of",
    "policy_observation",
    "episode_observations",
]

ChunkFn = Callable[[dict], tuple[np.ndarray, np.ndarray | None]]


def make_recorder(env_config: EnvConfig, **env_kwargs) -> envs.EpisodeRecorder:
    env = envs.make(env_config.robot, env_config.task, backend=env_config.backend,
                    **{**env_config.make_kwargs(), **env_kwargs})
    return envs.EpisodeRecorder(env, camera=env_config.reward_camera, fps=env_config.video_fps,
                                policy_cameras=env_config.cameras)


def obs_dim_of(recorder: envs.EpisodeRecorder, spec: ObservationSpec | None = None) -> int:
    """Length of the state vector the policy sees (the spec's, checked against the env)."""
    space = recorder.observation_space
    given = int(space["proprio"].shape[0] + (space["state"].shape[0] if "state" in space.spaces else 0))
    if spec is None:
        return given
    if given < spec.state_size:
        raise ValueError(f"the env gives {given} numbers, the policy sees {spec.describe()}")
    return spec.state_size


def policy_observation(obs: dict, spec: ObservationSpec | None) -> np.ndarray | dict:
    """What the agent sees of env observation `obs`: the state vector (proprio, then the sim
    state only if the spec lets it through), with the spec's cameras stacked beside it."""
    if spec is None:  # no spec: whatever the env gives, as before specs existed
        return make_obs(obs["proprio"], obs.get("state"))
    vector = make_obs(obs["proprio"], obs.get("state") if spec.privileged_state else None)
    if not spec.cameras:
        return vector
    return {"state": vector, "images": stack_cameras(obs["images"], spec.cameras)}


def episode_observations(episode: envs.Episode, spec: ObservationSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """(state vectors (N + 1, D), images uint8 (N + 1, C, H, W, 3) or None) of a stored episode,
    rebuilt as the policy saw them, from the episode folder alone."""
    obs = make_obs(episode.proprio, episode.states if spec.privileged_state else None)
    if obs.shape[1] != spec.state_size:
        raise ValueError(
            f"episode {episode.episode_id}: {obs.shape[1]}-number observations, the policy sees "
            f"{spec.describe()}"
        )
    if not spec.cameras:
        return obs, None
    missing = [name for name in spec.cameras if name not in episode.policy_images]
    if missing:
        raise ValueError(
            f"episode {episode.episode_id} has no policy images of cameras {missing} (it has "
            f"{sorted(episode.policy_images)}); the policy sees {spec.describe()}: record the "
            "episodes or demos again with these env.cameras"
        )
    images = stack_cameras(episode.policy_images, spec.cameras)
    if images.shape[-3:-1] != tuple(spec.image_size):
        raise ValueError(
            f"episode {episode.episode_id}: policy images are {images.shape[-3:-1]}, the policy "
            f"sees {spec.describe()}"
        )
    return obs, images


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


def policy_chunks(
    agent, params, key: jax.Array, spec: ObservationSpec | None = None, *, deterministic: bool = False,
    warmup: bool = False,
) -> ChunkFn:
    """Chunk function of a learned agent seeing `spec`; each call folds a fresh counter into `key`.
    `warmup`: the agent's warm-up policy (DSRL: the base policy's N(0, I) noise), not its actor."""
    counter = itertools.count()

    def choose(obs: dict) -> tuple[np.ndarray, np.ndarray | None]:
        step = agent.select_action(params, policy_observation(obs, spec),
                                   jax.random.fold_in(key, next(counter)), deterministic=deterministic,
                                   warmup=warmup)
        noise = None if step.noise is None else np.asarray(step.noise)
        return np.asarray(step.actions), noise

    return choose


def expert_chunks(recorder: envs.EpisodeRecorder, noise: float, seed: int, cloth: int | None = None):
    """(chunk function, reset hook) of the scripted expert: one action per chunk."""
    expert = make_expert(recorder, noise=noise, seed=seed, cloth=cloth)

    def choose(obs: dict) -> tuple[np.ndarray, None]:
        return expert.act(obs)[None], None

    return choose, expert.reset


def expert_episode(
    recorder: envs.EpisodeRecorder, noise: float, seed: int, cloth: int | None = None
) -> envs.Episode:
    """One scripted-expert episode on scene `seed` (the expert's noise is seeded alike); `cloth`
    fixes the cloth a pick-and-place expert uses (None: its own random choice)."""
    choose, reset = expert_chunks(recorder, noise, seed, cloth)
    return collect_episode(recorder, choose, seed, reset=reset)
