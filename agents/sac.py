"""Soft actor-critic maths, shared by SAC on action chunks (RLPD) and DSRL (SAC on the noise).

`ActorCritic` holds the static pieces (actor and critic networks, their optimisers, the action
bound, the target entropy); its methods are pure functions of params, among them sampling an action
bounded to [-scale, scale]. `make_sac_update` builds `update(state, batch, key)`: n critic
updates (a `lax.scan` over the batch's n minibatches, each followed by a Polyak target update),
then one actor and one temperature update on the last minibatch.

Critic targets use the min over the critic ensemble; the actor maximises the ensemble mean.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from agents.config import EncoderConfig, SACConfig
from agents.networks import Critic, ObsStats, TanhGaussianActor, split_named, tanh_gaussian_sample
from agents.state import AgentState, apply_grads, first_minibatch, last_minibatch, polyak

__all__ = ["ActorCritic", "make_actor_critic_update", "make_sac_critic_loss", "make_sac_update"]


@dataclasses.dataclass(frozen=True, eq=False)
class ActorCritic:
    """Actor and critic networks with their optimisers, for an action of size `action_dim`
    bounded to [-action_scale, action_scale] (an action chunk for SAC, the noise for DSRL)."""

    config: SACConfig
    encoder: EncoderConfig
    action_dim: int
    action_scale: float
    action_prior_weight: float = 0.0  # actor loss + weight * |a|^2 / 2 (DSRL's noise prior)

    def __post_init__(self) -> None:
        c = self.config
        object.__setattr__(
            self, "actor", TanhGaussianActor(self.encoder, c.hidden_dims, self.action_dim)
        )
        object.__setattr__(
            self, "critic", Critic(self.encoder, c.hidden_dims, c.num_critics, c.critic_layer_norm)
        )
        object.__setattr__(
            self,
            "tx",
            {
                "actor": optax.adam(c.actor_lr),
                "critic": optax.adam(c.critic_lr),
                "noise_critic": optax.adam(c.critic_lr),
                "log_alpha": optax.adam(c.temperature_lr),
            },
        )

    @property
    def target_entropy(self) -> float:
        return -self.config.target_entropy_scale * self.action_dim

    def init_params(self, key: jax.Array, dummy_obs: dict, stats: ObsStats) -> dict[str, Any]:
        """Actor, critic, target critic (a copy) and log temperature."""
        keys = split_named(key, ("actor", "critic"))
        action = jnp.zeros((dummy_obs["state"].shape[0], self.action_dim), jnp.float32)
        critic = self.critic.init(keys["critic"], dummy_obs, action, stats)
        return {
            "actor": self.actor.init(keys["actor"], dummy_obs, stats),
            "critic": critic,
            "target_critic": jax.tree.map(jnp.copy, critic),
            "log_alpha": jnp.asarray(jnp.log(self.config.init_temperature), jnp.float32),
            "obs_stats": stats,
        }

    def init_opt_state(self, params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        return {name: self.tx[name].init(params[name]) for name in names}

    def sample(self, params: dict, obs: dict, key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """The actor's (action, log_prob); `key=None` gives the deterministic mode."""
        mean, log_std = self.actor.apply(params["actor"], obs, params["obs_stats"])
        return tanh_gaussian_sample(mean, log_std, self.action_scale, key)

    def q_values(self, params: dict, name: str, obs: dict, action: jax.Array) -> jax.Array:
        """(num_critics, B) values of the critic stored under `name`."""
        return self.critic.apply(params[name], obs, action, params["obs_stats"])

    def soft_target(self, params: dict, mb: dict, key: jax.Array) -> jax.Array:
        """r + gamma * discount * (min_i Q'_i(s', a') - alpha * log pi(a'|s')), a' ~ pi(s')."""
        next_action, next_logp = self.sample(params, mb["next_obs"], key)
        next_q = jnp.min(
            self.q_values(params, "target_critic", mb["next_obs"], next_action), axis=0
        )
        if self.config.backup_entropy:
            next_q = next_q - jnp.exp(params["log_alpha"]) * next_logp
        target = mb["reward"] + self.config.discount * mb["discount"] * next_q
        return self.finish_target(target, mb)

    def finish_target(self, td_target: jax.Array, mb: dict) -> jax.Array:
        """The configured critic target (TD or Monte-Carlo), clipped to the known return range."""
        target = td_target
        if self.config.critic_target == "mc":
            target = self.config.discount ** mb["steps_to_end"] * mb["episode_return"]
        if self.config.target_range is not None:
            target = jnp.clip(target, *self.config.target_range)
        return target

    def regression_loss(
        self, critic_params: Any, stats: ObsStats, obs: dict, action: jax.Array, target: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Mean squared error of every ensemble member to the (stopped) target; also mean Q."""
        q = self.critic.apply(critic_params, obs, action, stats)
        return jnp.mean((q - jax.lax.stop_gradient(target)) ** 2), jnp.mean(q)

    def regress(
        self,
        params: dict,
        opt_state: dict,
        name: str,
        obs: dict,
        action: jax.Array,
        target: jax.Array,
    ) -> tuple[dict, dict, jax.Array, jax.Array]:
        """One gradient step of the critic `name` towards `target`; returns loss and mean Q too."""
        grad_fn = jax.value_and_grad(self.regression_loss, has_aux=True)
        (loss, q_mean), grads = grad_fn(params[name], params["obs_stats"], obs, action, target)
        new, opt = apply_grads(self.tx[name], params[name], opt_state[name], grads)
        return {**params, name: new}, {**opt_state, name: opt}, loss, q_mean

    def actor_and_temperature_step(
        self,
        params: dict,
        opt_state: dict,
        obs: dict,
        key: jax.Array,
        q_fn: Callable[[dict, dict, jax.Array], jax.Array],
    ) -> tuple[dict, dict, dict[str, jax.Array]]:
        """Actor: min E[alpha log pi - q_fn]; temperature: match the target entropy."""
        alpha = jnp.exp(params["log_alpha"])

        def actor_loss(actor_params: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            action, logp = self.sample({**params, "actor": actor_params}, obs, key)
            q = q_fn(params, obs, action)
            prior = 0.5 * self.action_prior_weight * jnp.sum(action**2, axis=-1)
            return jnp.mean(alpha * logp - q + prior), (logp, q)

        (a_loss, (logp, q)), grads = jax.value_and_grad(actor_loss, has_aux=True)(params["actor"])
        actor, actor_opt = apply_grads(self.tx["actor"], params["actor"], opt_state["actor"], grads)
        entropy = -jnp.mean(logp)

        def temperature_loss(log_alpha: jax.Array) -> jax.Array:
            return log_alpha * jax.lax.stop_gradient(entropy - self.target_entropy)

        t_grads = jax.grad(temperature_loss)(params["log_alpha"])
        log_alpha, t_opt = apply_grads(
            self.tx["log_alpha"], params["log_alpha"], opt_state["log_alpha"], t_grads
        )
        params = {**params, "actor": actor, "log_alpha": log_alpha}
        opt_state = {**opt_state, "actor": actor_opt, "log_alpha": t_opt}
        metrics = {"actor_loss": a_loss, "entropy": entropy, "alpha": alpha, "actor_q": jnp.mean(q)}
        return params, opt_state, metrics


def scan_critic_updates(
    actor_critic: ActorCritic,
    critic_step: Callable[[dict, dict, dict, jax.Array], tuple[dict, dict, dict[str, jax.Array]]],
    state: AgentState,
    batch: dict,
    key: jax.Array,
) -> tuple[dict, dict, dict[str, jax.Array]]:
    """Runs `critic_step` on each of the batch's n minibatches, each followed by a target update."""
    n = batch["reward"].shape[0]

    def body(carry: tuple[dict, dict], inputs: tuple[dict, jax.Array]):
        params, opt_state = carry
        mb, k = inputs
        params, opt_state, metrics = critic_step(params, opt_state, mb, k)
        target = polyak(params["target_critic"], params["critic"], actor_critic.config.tau)
        return ({**params, "target_critic": target}, opt_state), metrics

    (params, opt_state), metrics = jax.lax.scan(
        body, (state.params, state.opt_state), (batch, jax.random.split(key, n))
    )
    return params, opt_state, jax.tree.map(jnp.mean, metrics)


def make_actor_critic_update(
    actor_critic: ActorCritic,
    critic_step: Callable[[dict, dict, dict, jax.Array], tuple[dict, dict, dict[str, jax.Array]]],
    q_fn: Callable[[dict, dict, jax.Array], jax.Array],
) -> Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]:
    """`update(state, batch, key)`: `critic_step` on each minibatch, then one actor and
    temperature step against `q_fn` on the last one. SAC and DSRL-NA differ only in those two."""

    def update(state: AgentState, batch: dict, key: jax.Array) -> tuple[AgentState, dict]:
        keys = split_named(key, ("critic", "actor"))
        params, opt_state, metrics = scan_critic_updates(
            actor_critic, critic_step, state, batch, keys["critic"]
        )
        params, opt_state, actor_metrics = actor_critic.actor_and_temperature_step(
            params, opt_state, last_minibatch(batch)["obs"], keys["actor"], q_fn
        )
        new_state = state.replace(params=params, opt_state=opt_state, step=state.step + 1)
        return new_state, {**metrics, **actor_metrics}

    return update


def make_sac_update(
    actor_critic: ActorCritic,
) -> Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]:
    """Pure `update(state, batch, key) -> (state, metrics)` for SAC (actions or DSRL noise)."""

    def critic_step(params: dict, opt_state: dict, mb: dict, key: jax.Array):
        target = actor_critic.soft_target(params, mb, key)
        params, opt_state, loss, q = actor_critic.regress(
            params, opt_state, "critic", mb["obs"], mb["agent_action"], target
        )
        return params, opt_state, {"critic_loss": loss, "q_mean": q}

    def q_fn(params: dict, obs: dict, action: jax.Array) -> jax.Array:
        return jnp.mean(actor_critic.q_values(params, "critic", obs, action), axis=0)

    return make_actor_critic_update(actor_critic, critic_step, q_fn)


def make_sac_critic_loss(
    actor_critic: ActorCritic,
) -> Callable[[AgentState, dict, jax.Array], jax.Array]:
    """Critic TD loss on the batch's first minibatch, without updating anything (diagnostics)."""

    def critic_loss(state: AgentState, batch: dict, key: jax.Array) -> jax.Array:
        mb = first_minibatch(batch)
        params = state.params
        target = actor_critic.soft_target(params, mb, key)
        loss, _ = actor_critic.regression_loss(
            params["critic"], params["obs_stats"], mb["obs"], mb["agent_action"], target
        )
        return loss

    return critic_loss
