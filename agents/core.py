"""The learner-side roles, in the style of dm-acme's `core.py`: small interfaces, usage in docstrings.

Ray actors in `experiments/` wrap these roles; they never define the API. The learner is blind to
where data comes from: whoever owns the episodes (an env actor, the run directory on resume, a
demo file) hands them over with `add_episode`.

Typical loop (the run loop, not the learner, decides when to train):

    learner = make_learner("dsrl", obs_dim, AgentConfig(), diffusion_params=pretrained)
    policy = make_agent("dsrl", obs_dim, AgentConfig())       # on the actor's side
    while running:
        for episode in newly_scored_episodes():
            learner.add_episode(obs=..., actions=..., reward=..., terminal=..., noise=...)
        for _ in range(learner.updates_owed()):
            metrics = learner.step()
        params, version = learner.get_variables(["policy", "version"])
        # actors: step = policy.select_action(params, obs, key, deterministic=False)
        #         robot executes step.actions (H, 7); the episode records step.noise
    learner.save(run_dir / "checkpoints" / "latest")
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

__all__ = ["Learner", "Policy", "VariableSource"]


class VariableSource(abc.ABC):
    """Something actors pull parameters from."""

    @abc.abstractmethod
    def get_variables(self, names: Sequence[str]) -> list[Any]:
        """Host (numpy) copies of the named variables, in the order asked for.

        Names every learner offers: "policy" (everything `Policy.select_action` needs) and
        "version" (the number of updates done, to tell stale params from fresh ones).
        """


class Learner(VariableSource):
    """Consumes scored episodes, updates parameters. Implementations are impure wrappers around a
    pure `update(state, batch, key) -> (state, metrics)` plus a host replay buffer."""

    @abc.abstractmethod
    def add_episode(
        self,
        *,
        obs: np.ndarray,
        actions: np.ndarray,
        noise: np.ndarray | None = None,
        images: np.ndarray | None = None,
        reward: float,
        terminal: bool,
        demo: bool = False,
        count: bool = True,
    ) -> int:
        """Adds one whole episode whose terminal reward is known; returns the transitions added.

        obs (N + 1, D) float (`agents.observation.make_obs(proprio, states)`), actions (N, 7),
        reward the episode's terminal reward, terminal True when it ended in success or a true
        terminal state (False at a time limit), noise (K, H, 7) the DSRL noise of each decision,
        images (N + 1, C, H, W, 3) uint8 when the policy sees C cameras (in the env's camera
        order; a learner whose encoder sees cameras refuses an episode without them). `demo=True` files it as a
        demonstration (RLPD mixing); `count=False` leaves the update-to-data accounting alone (used
        when rebuilding the buffer after `restore`).
        """

    @abc.abstractmethod
    def updates_owed(self) -> int:
        """How many `step()` calls the update-to-data ratio asks for now (0 before warm-up)."""

    @abc.abstractmethod
    def step(self) -> dict[str, float]:
        """One update on a freshly sampled batch; returns scalar metrics."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Checkpoints params, optimiser state, RNG and counters (not the replay buffer)."""

    @abc.abstractmethod
    def restore(self, path: str | os.PathLike) -> None:
        """Restores what `save` wrote; counters continue from the saved values."""


class Policy(Protocol):
    """The actor side: a pure function from (params, observation, key) to an action chunk."""

    def select_action(self, params: Any, obs: Any, key: Any, *, deterministic: bool = False) -> Any:
        """Returns `PolicyStep(actions (H, 7) in [-1, 1], noise (H, 7) or None)`."""
