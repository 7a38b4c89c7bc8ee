"""Ray actors: thin wrappers around the roles (env + recorder, reward client, learner).

    EnvActor     runs whole episodes with the params it is handed, writes each to the run
                 directory, returns a summary; never waits for rewards or the learner.
    RewardActor  scores stored episodes with the configured reward client, a few at a time
                 (a threaded actor); restarted by Ray if it dies.
    LearnerActor owns the JAX learner: adds scored episodes, trains, publishes versioned params.

The run loop (experiments/training/train.py) moves ids and small summaries between them; episodes travel
through the run directory on disk, so nothing is lost when an actor dies.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import ray

import envs
import reward_clients
from agents.agent import make_agent
from configs.experiment import ExperimentConfig
from configs.overrides import config_from_json
from envs.observation_spec import ObservationSpec, spec_of_config, spec_of_env
from experiments.rundir import RunDir
from experiments.training.estop import EStopWatcher
from experiments.training.rollouts import (
    collect_episode,
    episode_observations,
    make_recorder,
    obs_dim_of,
    policy_chunks,
)
from robots.guarded_arm import EmergencyStop

__all__ = ["EnvActor", "RewardActor", "LearnerActor", "load_for_learner"]


class EnvActor:
    """One robot or sim copy. Wrapped with `ray.remote` by `remote_env_actor`."""

    def __init__(self, index: int, config_json: dict, run_root: str):
        self.index = index
        self.config = config_from_json(config_json)
        self.run = RunDir(run_root)
        env_kwargs = {}
        if self.config.env.backend == "real":  # every refused or clipped command is logged
            env_kwargs["safety_log"] = str(self.run.safety_log(index))
        self.recorder = make_recorder(self.config.env, **env_kwargs)
        self.spec = spec_of_config(self.config.env)
        given = spec_of_env(self.recorder, self.config.env.cameras)
        if given != self.spec:
            raise ValueError(f"env actor {index}: the env gives {given.describe()}; the config "
                             f"asks for {self.spec.describe()}")
        self.agent = make_agent(self.config.agent_kind, obs_dim_of(self.recorder, self.spec),
                                self.config.agent)
        self.key = jax.random.key(self.config.run.seed + 7919 * (index + 1))
        # The run's e-stop (rrl estop, SIGUSR1 or the key in the `rrl train` terminal), polled
        # between steps on a thread of this actor: the env stops stepping at once.
        self.estop = EStopWatcher(self.run, self.recorder.unwrapped)
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.busy_s = 0.0

    def run_episode(self, params: Any, version: int, episode_index: int) -> dict[str, Any]:
        """Runs, records and stores one episode; returns its summary (no frames). While the run's
        e-stop is set it waits (an episode handed out just before the e-stop starts after
        `rrl estop --clear`); an e-stop during the episode ends it with end_reason "estop"."""
        self.estop.wait_until_clear()
        start = time.perf_counter()
        self.started_at = self.started_at or time.time()
        guarded = getattr(self.recorder.unwrapped, "guarded", None)
        if guarded is not None:  # fresh params from the learner: tell the real robot's watchdog
            guarded.kick_learner()
        seed = RunDir.training_scene_seed(self.config.run.seed, episode_index)
        # Before the learner's first update (after dsrl.warmup_episodes) the base policy acts.
        warmup = self.agent.warms_up(version)
        chunks = policy_chunks(self.agent, params, jax.random.fold_in(self.key, episode_index), self.spec,
                               warmup=warmup)
        while True:
            try:
                episode = collect_episode(self.recorder, chunks, seed)
                break
            except EmergencyStop:  # a real arm e-stopped during reset(): no episode began yet
                if not self.estop.engaged:
                    raise  # not the run's e-stop: only whoever set it may clear it
                self.estop.wait_until_clear()
        episode.metadata.update(actor=self.index, params_version=int(version),
                                agent_kind=self.config.agent_kind, episode_index=episode_index,
                                warmup=warmup)
        episode.save(self.run.episode_path(episode.episode_id))
        self.busy_s += time.perf_counter() - start
        self.finished_at = time.time()
        return {
            "episode_id": episode.episode_id, "actor": self.index, "episode_index": episode_index,
            "oracle_score": episode.oracle_score, "is_success": episode.is_success,
            "steps": episode.num_steps, "params_version": int(version), "seed": seed,
            "end_reason": episode.end_reason, "duration_s": time.perf_counter() - start,
            "warmup": warmup,
        }

    def utilisation(self) -> dict[str, float]:
        """Share of the wall time from the first episode's start to the last one's end spent
        running episodes (the rest is waiting to be handed the next one)."""
        wall = (self.finished_at or 0.0) - (self.started_at or 0.0)
        return {"busy_s": self.busy_s, "wall_s": wall, "utilisation": self.busy_s / wall if wall > 0 else 0.0}


class RewardActor:
    """Scores episodes from the run directory. Threaded: Ray runs up to max_concurrency calls."""

    def __init__(self, name: str, settings: dict, run_root: str):
        self.run_root = Path(run_root)
        self.client = reward_clients.make(name, run_dir=self.run_root, **settings)

    def score(self, episode_id: str) -> dict[str, Any]:
        """The RewardResult of one stored episode, as a dict. Failures come back as results with
        `score` None and `error` set; they are never replaced by a made-up score."""
        path = RunDir(self.run_root).episode_path(episode_id)
        try:
            episode = envs.Episode.load(path)
        except (OSError, ValueError) as error:
            return self._failure(episode_id, f"cannot read episode {path}: {error}", fatal=False)
        try:
            return dataclasses.asdict(self.client.score(episode))
        except reward_clients.RewardClientError as error:
            # Raised only for what retrying cannot fix (a wrong URL, model or key, a daily quota,
            # a video too large): the run stops with this message instead of retrying forever.
            return self._failure(episode_id, str(error), fatal=not getattr(error, "retryable", False))

    def _failure(self, episode_id: str, error: str, *, fatal: bool) -> dict[str, Any]:
        return {"episode_id": episode_id, "source": self.client.source, "model": self.client.model,
                "score": None, "reward": None, "raw_text": "", "latency_s": 0.0, "attempts": 0,
                "error": error, "fatal": fatal}


def load_for_learner(path: Path, spec: ObservationSpec) -> dict[str, Any]:
    """The learner's view of a stored episode, rebuilt from its folder as the policy saw it:
    state vectors, camera images (None without cameras), actions, DSRL noise."""
    episode = envs.Episode.load(path, with_video=False)
    obs, images = episode_observations(episode, spec)
    return {
        "obs": obs,
        "images": images,
        "actions": episode.actions,
        "noise": episode.extra.get("noise"),
        # A success that ended the episode is a true terminal state; how a time-limit end is
        # treated is the learner's `replay.bootstrap_time_limit` setting.
        "terminal": episode.end_reason == "success",
    }


class LearnerActor:
    """Owns the learner. Params go out as numpy trees tagged with the update count."""

    def __init__(self, config_json: dict, run_root: str, obs_dim: int, diffusion_params: Any):
        from agents.learner import make_learner

        self.config = config_from_json(config_json)
        self.run = RunDir(run_root)
        self.spec = spec_of_config(self.config.env)
        # SAC on actions normalises observations with the statistics of the demonstrations,
        # which the pretrained base policy already carries.
        self.learner = make_learner(self.config.agent_kind, obs_dim, self.config.agent,
                                    diffusion_params=diffusion_params,
                                    obs_stats=diffusion_params["obs_stats"])

    def add_episode(self, episode_id: str, reward: float, *, count: bool = True) -> int:
        data = load_for_learner(self.run.episode_path(episode_id), self.spec)
        return self.learner.add_episode(reward=float(reward), count=count, **data)

    def add_demo(self, obs: np.ndarray, actions: np.ndarray, images: np.ndarray | None = None) -> int:
        return self.learner.add_episode(obs=obs, actions=actions, images=images, terminal=True, demo=True,
                                        reward=self.config.agent.replay.demo_reward)

    def train(self, max_updates: int | None = None) -> dict[str, float]:
        """Runs the updates the update-to-data ratio owes (at most `max_updates`)."""
        owed = self.learner.updates_owed()
        n = owed if max_updates is None else min(owed, max_updates)
        start = time.perf_counter()
        metrics: dict[str, float] = {}
        for _ in range(n):
            metrics = self.learner.step()
        elapsed = time.perf_counter() - start
        metrics = {k: float(v) for k, v in metrics.items()}
        metrics.update(updates=n, updates_per_s=n / elapsed if n and elapsed > 0 else 0.0)
        return metrics

    @ray.method(num_returns=2)
    def get_policy(self) -> tuple[Any, int]:
        """(policy params, version) as two objects: the loop hands the params' reference to the
        env actors and fetches only the version number itself."""
        params, version = self.learner.get_variables(["policy", "version"])
        return params, int(version)

    def save(self, path: str) -> str:
        self.learner.save(path, extra_meta={"observation": self.spec.to_dict()})
        return path

    def restore(self, path: str) -> int:
        self.learner.restore(path)
        return int(self.learner.get_variables(["version"])[0])


def remote_actor_classes(config: ExperimentConfig):
    """The actor classes wrapped for Ray with the config's resources."""
    env_resources = {config.env.robot_resource: 1} if config.env.robot_resource else None
    env_actor = ray.remote(num_cpus=0 if env_resources else 1, resources=env_resources)(EnvActor)
    reward_actor = ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=config.reward.max_concurrency)(RewardActor)
    learner_actor = ray.remote(num_cpus=1, num_gpus=config.run.learner_gpus)(LearnerActor)
    return env_actor, reward_actor, learner_actor
