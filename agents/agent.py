"""`make_agent(kind, obs_dim, config)`: the pure side of each learner, in one bundle.

An `Agent` holds static definitions and pure functions only; it owns no params and no data:
    agent = make_agent("dsrl", obs_dim, AgentConfig())
    state = agent.init(key, diffusion_params=pretrained)      # AgentState
    state, metrics = agent.update(state, batch, key)           # jit this once
    step = agent.select_action(agent.policy_params(state), obs, key, deterministic=False)
    step.actions  # (H, 7) chunk for the robot;  step.noise  # (H, 7) diffusion noise (None for sac)
    agent.warms_up(version)  # True: act with select_action(..., warmup=True), the base policy

`obs` is a state (D,) or a dict {"state": (D,), "images": uint8 (C, H, W, 3)} when the encoder sees
C cameras, or either with a leading batch axis.

What differs between kinds lives in their builders (`agents.builders`); no code tests the kind.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from agents.actor_critic import ActorCritic
from agents.builders import AgentBuilder, agent_builder
from agents.config import AgentConfig
from agents.diffusion import DiffusionPolicy
from agents.networks import ObsStats, as_obs
from agents.replay import FrameSpec
from agents.state import AgentState

__all__ = ["Agent", "PolicyStep", "make_agent"]


class PolicyStep(NamedTuple):
    """What the policy chose: the chunk to execute and the diffusion noise behind it (or None)."""

    actions: jax.Array  # (..., H, 7) in [-1, 1]
    noise: jax.Array | None  # (..., H, 7) initial DDIM noise; None for SAC on actions


@dataclasses.dataclass(frozen=True, eq=False)
class Agent:
    """Static definitions and pure functions of one agent kind (see the module docstring)."""

    builder: AgentBuilder
    obs_dim: int
    config: AgentConfig
    policy: DiffusionPolicy
    actor_critic: ActorCritic | None  # None for "bc"
    update: Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]
    loss: Callable[[AgentState, dict, jax.Array], jax.Array]  # critic TD loss, or BC loss for "bc"

    @property
    def kind(self) -> str:
        return self.builder.kind

    @property
    def acts_in(self) -> str:
        """'noise' if the replay buffer stores DSRL noise, 'action' if executed action chunks."""
        return self.builder.acts_in

    @property
    def uses_demos(self) -> bool:
        """True if the run hands demonstrations to the learner for every batch (RLPD)."""
        return self.builder.uses_demos

    @property
    def needs_diffusion(self) -> bool:
        return self.builder.needs_diffusion

    @property
    def frame_spec(self) -> FrameSpec | None:
        """Camera data the replay buffer keeps per decision step (None without cameras)."""
        return self.builder.frame_spec(self.config)

    @property
    def warmup_episodes(self) -> int:
        """Episodes the learner waits for before its first update (0: no warm-up)."""
        return self.builder.warmup_episodes(self.config)

    def warms_up(self, params_version: int) -> bool:
        """True while an actor holding params of `params_version` (the learner's update count)
        should play the warm-up policy: before the first update, as the DSRL code acts with
        N(0, I) noise until its first gradient step. The learner only counts episodes."""
        return self.warmup_episodes > 0 and params_version == 0

    @property
    def batch_shape(self) -> tuple[int, int]:
        """(n, B): minibatches per `update` call and their size."""
        return self.builder.batch_shape(self.config)

    def init(
        self,
        key: jax.Array,
        diffusion_params: dict | None = None,
        obs_stats: ObsStats | None = None,
    ) -> AgentState:
        """Fresh state. DSRL and BC need the pretrained diffusion params (their obs statistics are
        used by every network); SAC takes `obs_stats` (e.g. from demos) or uses the identity."""
        if self.needs_diffusion:
            if diffusion_params is None:
                raise ValueError(
                    f"make_agent({self.kind!r}): init needs the pretrained diffusion_params"
                )
            obs_stats = diffusion_params["obs_stats"]
        stats = obs_stats if obs_stats is not None else ObsStats.identity(self.obs_dim)
        return self.builder.init_state(self, key, diffusion_params, stats)

    def policy_params(self, state: AgentState) -> dict[str, Any]:
        """The params an actor needs to act (what `Learner.get_variables(["policy"])` returns)."""
        params = {name: state.params[name] for name in self.builder.policy_param_names(self.config)}
        if "actor_average" in state.params:  # SACConfig.actor_average_tau: the average acts
            params["actor"] = state.params["actor_average"]
        return params

    @functools.partial(jax.jit, static_argnames=("self", "deterministic", "warmup"))
    def select_action(
        self,
        params: dict,
        obs: Any,
        key: jax.Array,
        *,
        deterministic: bool = False,
        warmup: bool = False,
    ) -> PolicyStep:
        """Policy-side action choice for one observation (D,) or a batch (B, D) (or obs dicts with
        "images" (C, H, W, 3) or (B, C, H, W, 3) as well). `warmup`: the warm-up policy (see
        `warms_up`) instead of the actor."""
        obs = as_obs(obs)
        self._check_images(obs)
        single = obs["state"].ndim == 1
        if single:
            obs = jax.tree.map(lambda x: x[None], obs)
        if warmup:
            actions, noise = self.builder.choose_warmup(self, params, obs, key)
        else:
            actions, noise = self.builder.choose(self, params, obs, None if deterministic else key)

        def shape(x: jax.Array | None) -> jax.Array | None:
            if x is None:
                return None
            x = x.reshape((x.shape[0], *self.policy.chunk_shape))
            return x[0] if single else x

        return PolicyStep(actions=shape(actions), noise=shape(noise))

    def _check_images(self, obs: dict) -> None:
        encoder = self.config.diffusion.encoder
        if not encoder.uses_images:
            return
        images = obs.get("images")
        if images is None or tuple(images.shape[-4:]) != encoder.frame_shape:
            got = None if images is None else tuple(images.shape)
            raise ValueError(
                f"make_agent({self.kind!r}): the encoder sees {encoder.num_cameras} camera(s); "
                f"the observation needs 'images' uint8 (..., {encoder.frame_shape}), got {got}"
            )


def make_agent(kind: str, obs_dim: int, config: AgentConfig) -> Agent:
    """The agent of `kind` (one of `agents.config.AGENT_KINDS`) for observations of `obs_dim`."""
    builder = agent_builder(kind)
    if obs_dim <= 0:
        raise ValueError(f"make_agent: obs_dim must be positive, got {obs_dim}")
    policy = DiffusionPolicy(config.diffusion, obs_dim)
    actor_critic = builder.make_actor_critic(config)
    update, loss = builder.make_update(policy, actor_critic, config)
    return Agent(builder, obs_dim, config, policy, actor_critic, update, loss)
