"""`make_agent(kind, obs_dim, config)`: the pure side of each learner, in one bundle.

An `Agent` holds static definitions and pure functions only; it owns no params and no data:
    agent = make_agent("dsrl_sac", obs_dim, AgentConfig())
    state = agent.init(key, diffusion_params=pretrained)      # AgentState
    state, metrics = agent.update(state, batch, key)           # jit this once
    step = agent.select_action(agent.policy_params(state), obs, key, deterministic=False)
    step.actions  # (H, 7) chunk for the robot;  step.noise  # (H, 7) diffusion noise (None for sac)

Kinds: "dsrl_sac", "dsrl_na", "sac" (on action chunks, RLPD demo mixing), "bc" (reward-filtered or
reward-weighted fine-tuning of the diffusion policy, `config.bc.mode`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from agents.bc import make_bc_loss, make_bc_update
from agents.config import AGENT_KINDS, AgentConfig
from agents.diffusion import DiffusionPolicy
from agents.dsrl import make_dsrl_na_critic_loss, make_dsrl_na_update
from agents.networks import ObsStats, as_obs, split_named
from agents.sac import SACParts, make_sac_critic_loss, make_sac_update
from agents.state import AgentState

__all__ = ["Agent", "PolicyStep", "make_agent"]


class PolicyStep(NamedTuple):
    """What the policy chose: the chunk to execute and the diffusion noise behind it (or None)."""

    actions: jax.Array  # (..., H, 7) in [-1, 1]
    noise: jax.Array | None  # (..., H, 7) initial DDIM noise; None for SAC on actions


@dataclasses.dataclass(frozen=True, eq=False)
class Agent:
    """Static definitions and pure functions of one agent kind (see the module docstring)."""

    kind: str
    obs_dim: int
    config: AgentConfig
    policy: DiffusionPolicy
    parts: SACParts | None
    update: Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]
    loss: Callable[[AgentState, dict, jax.Array], jax.Array]  # critic TD loss, or BC loss for "bc"

    @property
    def action_space(self) -> str:
        """'noise' if the replay buffer stores DSRL noise, 'action' if executed action chunks."""
        return AGENT_KINDS[self.kind]

    @property
    def needs_diffusion(self) -> bool:
        return self.kind != "sac"

    @property
    def batch_shape(self) -> tuple[int, int]:
        """(n, B): minibatches per `update` call and their size."""
        if self.kind == "bc":
            return (1, self.config.bc.batch_size)
        return (self.config.sac.critic_updates_per_step, self.config.sac.batch_size)

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
        if self.kind == "bc":
            tx = _bc_optimizer(self.config)
            params = {"diffusion": diffusion_params, "obs_stats": stats}
            opt = {"diffusion": tx.init(diffusion_params["net"])}
            return AgentState(params=params, opt_state=opt, step=jnp.zeros((), jnp.int32))
        keys = split_named(key, ("sac", "noise_critic"))
        dummy = self.policy.dummy_obs()
        params = self.parts.init_params(keys["sac"], dummy, stats)
        names = ("actor", "critic", "log_alpha")
        if self.needs_diffusion:
            params["diffusion"] = diffusion_params
        if self.kind == "dsrl_na":
            zeros = jnp.zeros((1, self.parts.action_dim), jnp.float32)
            params["noise_critic"] = self.parts.critic.init(
                keys["noise_critic"], dummy, zeros, stats
            )
            names += ("noise_critic",)
        opt = self.parts.init_opt_state(params, names)
        return AgentState(params=params, opt_state=opt, step=jnp.zeros((), jnp.int32))

    def policy_params(self, state: AgentState) -> dict[str, Any]:
        """The params an actor needs to act (what `Learner.get_variables(["policy"])` returns)."""
        names = {"sac": ("actor", "obs_stats"), "bc": ("diffusion",)}.get(
            self.kind, ("actor", "obs_stats", "diffusion")
        )
        return {name: state.params[name] for name in names}

    @functools.partial(jax.jit, static_argnames=("self", "deterministic"))
    def select_action(
        self, params: dict, obs: Any, key: jax.Array, *, deterministic: bool = False
    ) -> PolicyStep:
        """Policy-side action choice for one observation (D,) or a batch (B, D) (or obs dicts)."""
        obs = as_obs(obs)
        single = obs["state"].ndim == 1
        if single:
            obs = jax.tree.map(lambda x: x[None], obs)
        chunk_shape = self.policy.chunk_shape
        if self.kind == "bc":
            shape = (obs["state"].shape[0], self.config.diffusion.flat_action_dim)
            noise = jnp.zeros(shape) if deterministic else jax.random.normal(key, shape)
            actions = self.policy.sample_flat(params["diffusion"], obs, noise)
        else:
            sampled, _ = self.parts.sample(params, obs, None if deterministic else key)
            if self.kind == "sac":
                actions, noise = sampled, None
            else:
                noise = sampled
                actions = self.policy.sample_flat(params["diffusion"], obs, noise)

        def shape(x: jax.Array | None) -> jax.Array | None:
            if x is None:
                return None
            x = x.reshape((x.shape[0], *chunk_shape))
            return x[0] if single else x

        return PolicyStep(actions=shape(actions), noise=shape(noise))


def _bc_optimizer(config: AgentConfig) -> optax.GradientTransformation:
    return optax.adam(config.diffusion.learning_rate)


def make_agent(kind: str, obs_dim: int, config: AgentConfig) -> Agent:
    """The agent of `kind` in {"dsrl_sac", "dsrl_na", "sac", "bc"} for flat observations of `obs_dim`."""
    if kind not in AGENT_KINDS:
        raise ValueError(f"make_agent: kind must be one of {sorted(AGENT_KINDS)}, got {kind!r}")
    if obs_dim <= 0:
        raise ValueError(f"make_agent: obs_dim must be positive, got {obs_dim}")
    policy = DiffusionPolicy(config.diffusion, obs_dim)
    size = config.diffusion.flat_action_dim
    encoder = config.diffusion.encoder
    if kind == "bc":
        update = make_bc_update(policy, _bc_optimizer(config), config.bc.mode, config.bc)
        loss = make_bc_loss(policy, config.bc.mode, config.bc)
        return Agent(kind, obs_dim, config, policy, None, update, loss)
    # SAC acts in [-1, 1] with no prior; DSRL in the bounded noise, held near 0 by its prior.
    dsrl = config.dsrl
    scale, prior = (1.0, 0.0) if kind == "sac" else (dsrl.noise_scale, dsrl.noise_prior_weight)
    parts = SACParts(config.sac, encoder, size, action_scale=scale, action_prior_weight=prior)
    if kind == "dsrl_na":
        update = make_dsrl_na_update(parts, policy, config.dsrl.distill_noise_std)
        loss = make_dsrl_na_critic_loss(parts, policy)
    else:
        update, loss = make_sac_update(parts), make_sac_critic_loss(parts)
    return Agent(kind, obs_dim, config, policy, parts, update, loss)
