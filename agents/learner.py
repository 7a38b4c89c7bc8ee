"""`AgentLearner`: the impure learner around an agent's pure, jitted `update`.

It owns the AgentState, the JAX key, the replay buffers (online and demonstrations) and counters.
Every batch has the same shapes and dtypes, so `update` is traced once; `num_traces` counts
traces (a Python side effect that only runs while JAX traces) so tests can catch recompilation.
Keys: update k uses `fold_in(key, k)`; host sampling uses `default_rng([seed, k])`, so a restored
learner continues the same random streams without saving numpy generator state.

On cameras an episode brings its images (N + 1, C, H, W, 3) uint8. SAC and BC keep the frames of
the decision steps; DSRL keeps the frozen base encoder's features of those frames instead,
computed here in one jitted call per block of `_FEATURE_BLOCK` frames (a fixed shape: one trace).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from agents.agent import Agent, make_agent
from agents.checkpoint import read_meta, restore_tree, save_tree
from agents.config import LEGACY_AGENT_KINDS, AgentConfig, EncoderConfig, config_from_dict
from agents.core import Learner
from agents.networks import ObsStats, split_named
from agents.replay import ReplayBuffer, episode_to_transitions
from agents.state import AgentState

__all__ = ["AgentLearner", "make_learner"]

_COUNTERS = ("updates", "transitions", "episodes", "demo_episodes")
_FEATURE_BLOCK = 32  # frames per call of the jitted feature encoder (episodes are padded to it)


class AgentLearner(Learner):
    """Impure: holds state, buffers and counters and calls the pure `agent.update` (jitted once)."""

    def __init__(
        self,
        agent: Agent,
        *,
        diffusion_params: dict | None = None,
        obs_stats: ObsStats | None = None,
    ):
        self.agent = agent
        config = agent.config
        keys = split_named(jax.random.key(config.seed), ("init", "update"))
        self._state: AgentState = agent.init(keys["init"], diffusion_params, obs_stats)
        self._key = keys["update"]
        frames = agent.frame_spec
        size = config.diffusion.flat_action_dim
        replay = config.replay
        self.replay = ReplayBuffer(
            replay.capacity, agent.obs_dim, size, frames, replay.frame_capacity
        )
        self.demos = ReplayBuffer(
            replay.demo_capacity, agent.obs_dim, size, frames, replay.frame_capacity
        )
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.num_traces = 0
        self._update = jax.jit(self._traced_update)
        self._encode_frames = jax.jit(agent.policy.image_features)

    def _traced_update(self, state: AgentState, batch: dict, key: jax.Array):
        self.num_traces += 1  # runs only when JAX traces, i.e. once per compilation
        return self.agent.update(state, batch, key)

    @property
    def state(self) -> AgentState:
        return self._state

    def add_episode(
        self,
        *,
        obs: np.ndarray,
        actions: np.ndarray,
        reward: float,
        terminal: bool,
        noise: np.ndarray | None = None,
        images: np.ndarray | None = None,
        demo: bool = False,
        count: bool = True,
    ) -> int:
        obs = np.asarray(obs, np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.agent.obs_dim:
            raise ValueError(
                f"AgentLearner: obs must be (N + 1, {self.agent.obs_dim}), got {obs.shape}"
            )
        uses_noise = self.agent.acts_in == "noise"
        if demo and uses_noise:
            raise ValueError(
                f"AgentLearner({self.agent.kind}): demos have no DSRL noise to learn from"
            )
        if uses_noise and noise is None and not demo:
            raise ValueError(f"AgentLearner({self.agent.kind}): episodes need the DSRL noise")
        images = self._checked_images(images, len(obs))
        tr = episode_to_transitions(
            obs,
            actions,
            self.agent.config.replay.demo_reward if demo else reward,
            chunk_len=self.agent.config.diffusion.chunk_len,
            terminal=terminal,
            noise=noise if uses_noise else None,
            images=images,
            bootstrap_time_limit=self.agent.config.replay.bootstrap_time_limit,
        )
        spec = self.agent.frame_spec
        if spec is not None and spec.key == "features":
            tr = dataclasses.replace(tr, frames=self.image_features(tr.frames))
        (self.demos if demo else self.replay).add(tr)
        if count:
            self.counters["demo_episodes" if demo else "episodes"] += 1
            if not demo:
                self.counters["transitions"] += len(tr)
        return len(tr)

    def _checked_images(self, images: np.ndarray | None, steps: int) -> np.ndarray | None:
        """The episode's images as the encoder needs them, or None when it sees no camera."""
        encoder = self.agent.config.diffusion.encoder
        if not encoder.uses_images:
            return None
        expected = (steps, *encoder.frame_shape)
        got = "none"
        if images is not None:
            images = np.asarray(images)
            if images.dtype == np.uint8 and images.shape == expected:
                return images
            got = f"{images.dtype} {images.shape}"
        raise ValueError(
            f"AgentLearner({self.agent.kind}): the encoder sees {encoder.num_cameras} camera(s); "
            f"the episode needs images uint8 {expected} (N + 1, C, H, W, 3), got {got}"
        )

    def image_features(self, frames: np.ndarray) -> np.ndarray:
        """The frozen base encoder's float32 features (n, C * F) of uint8 frames (n, C, H, W, 3)."""
        diffusion = self._state.params["diffusion"]
        pad = -len(frames) % _FEATURE_BLOCK
        padded = np.concatenate([frames, np.zeros((pad, *frames.shape[1:]), frames.dtype)])
        blocks = [
            self._encode_frames(diffusion, padded[i : i + _FEATURE_BLOCK])
            for i in range(0, len(padded), _FEATURE_BLOCK)
        ]
        return np.asarray(np.concatenate(jax.device_get(blocks)), np.float32)[: len(frames)]

    def updates_owed(self) -> int:
        """Updates the update-to-data ratio owes; none before `replay.min_transitions` online
        transitions and the agent's warm-up episodes (whatever played them) are in."""
        replay = self.agent.config.replay
        if len(self.replay) < replay.min_transitions:
            return 0
        if self.counters["episodes"] < self.agent.warmup_episodes:
            return 0
        due = math.floor(replay.utd_ratio * self.counters["transitions"])
        return max(0, due - self.counters["updates"])

    def sample_batch(self) -> dict:
        """The next update's batch, drawn deterministically from (seed, update count)."""
        n, b = self.agent.batch_shape
        rng = np.random.default_rng([self.agent.config.seed, self.counters["updates"]])
        use_demos = len(self.demos) > 0 and self.agent.acts_in == "action"
        n_demo = round(b * self.agent.config.replay.demo_ratio) if use_demos else 0
        if len(self.replay) == 0 and n_demo < b:
            raise ValueError(f"AgentLearner({self.agent.kind}): no online transitions to train on")
        parts = []
        if n_demo < b:
            parts.append(self.replay.sample(rng, (n, b - n_demo)))
        if n_demo:
            parts.append(self.demos.sample(rng, (n, n_demo)))
        if len(parts) == 1:
            return parts[0]
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *parts)

    def step(self) -> dict[str, float]:
        return self.update(self.sample_batch())

    def update(self, batch: dict) -> dict[str, float]:
        """One jitted update on a given batch (shaped like `sample_batch()`'s); returns metrics."""
        key = jax.random.fold_in(self._key, self.counters["updates"])
        self._state, metrics = self._update(self._state, batch, key)
        self.counters["updates"] += 1
        return {name: float(value) for name, value in jax.device_get(metrics).items()}

    def get_variables(self, names: Sequence[str]) -> list[Any]:
        out = []
        for name in names:
            if name == "policy":
                out.append(jax.device_get(self.agent.policy_params(self._state)))
            elif name == "version":
                out.append(self.counters["updates"])
            elif name == "counters":
                out.append(dict(self.counters))
            elif name in self._state.params:
                out.append(jax.device_get(self._state.params[name]))
            else:
                valid = ["policy", "version", "counters", *sorted(self._state.params)]
                raise ValueError(
                    f"AgentLearner: unknown variable {name!r}; valid names are {valid}"
                )
        return out

    def _tree(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "key": jax.random.key_data(self._key),
            "counters": {name: np.int64(value) for name, value in self.counters.items()},
        }

    def save(self, path: str | os.PathLike, extra_meta: dict[str, Any] | None = None) -> None:
        """Writes the checkpoint; `extra_meta` (JSON-able, e.g. the observation spec) joins its
        sidecar."""
        meta = {
            **(extra_meta or {}),
            "kind": self.agent.kind,
            "obs_dim": self.agent.obs_dim,
            "config": dataclasses.asdict(self.agent.config),
            "counters": dict(self.counters),
        }
        save_tree(path, self._tree(), meta)

    def restore(self, path: str | os.PathLike) -> None:
        meta = read_meta(path)
        kind = LEGACY_AGENT_KINDS.get(meta.get("kind"), meta.get("kind"))
        if kind != self.agent.kind or meta.get("obs_dim") != self.agent.obs_dim:
            raise ValueError(
                f"AgentLearner: checkpoint {path} is {meta.get('kind')!r} with obs_dim "
                f"{meta.get('obs_dim')}, this learner is {self.agent.kind!r} with {self.agent.obs_dim}"
            )
        saved = meta.get("config", {}).get("diffusion", {}).get("encoder", {})
        saved = config_from_dict(EncoderConfig, saved)
        encoder = self.agent.config.diffusion.encoder
        if _network_shape(saved) != _network_shape(encoder):
            raise ValueError(
                f"AgentLearner: checkpoint {path} was trained on {_describe(saved)}, this learner "
                f"sees {_describe(encoder)}"
            )
        tree = restore_tree(path, self._tree())
        self._state = tree["state"]
        self._key = jax.random.wrap_key_data(tree["key"])
        self.counters = {name: int(value) for name, value in tree["counters"].items()}


def _network_shape(encoder: EncoderConfig) -> EncoderConfig:
    """The encoder settings that shape the params (augmentation does not)."""
    return dataclasses.replace(encoder, augment_pad=0)


def _describe(encoder: EncoderConfig) -> str:
    if not encoder.uses_images:
        return "the state only"
    h, w = encoder.image_shape[:2]
    return f"{encoder.num_cameras} camera(s) at {h}x{w} ({_network_shape(encoder)})"


def make_learner(
    kind: str,
    obs_dim: int,
    config: AgentConfig,
    *,
    diffusion_params: dict | None = None,
    obs_stats: ObsStats | None = None,
) -> AgentLearner:
    """A learner of `kind`; DSRL and BC need `diffusion_params`, SAC may take demo `obs_stats`."""
    return AgentLearner(
        make_agent(kind, obs_dim, config), diffusion_params=diffusion_params, obs_stats=obs_stats
    )
