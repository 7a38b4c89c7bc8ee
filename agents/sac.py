"""Soft actor-critic updates, shared by SAC on action chunks (RLPD) and DSRL (SAC on the noise).

`make_sac_update(actor_critic)` builds `update(state, batch, key)`: n critic updates (one per
minibatch of the batch, each followed by a Polyak target update), then one actor and one
temperature update on the last minibatch's features. The networks and their maths live in
`agents.actor_critic.ActorCritic`; DSRL-NA's update (`agents.dsrl`) reuses the same skeleton.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from agents.actor_critic import ActorCritic, QFn
from agents.networks import split_named
from agents.state import AgentState, first_minibatch, has_images, polyak, scan_minibatches

__all__ = ["make_actor_critic_update", "make_sac_critic_loss", "make_sac_update"]


# critic_step(params, opt_state, minibatch, key) -> (params, opt_state, metrics, obs features)
CriticStep = Callable[[dict, dict, dict, jax.Array], tuple[dict, dict, dict, jax.Array]]


def scan_critic_updates(
    actor_critic: ActorCritic, critic_step: CriticStep, state: AgentState, batch: dict, key
) -> tuple[dict, dict, dict[str, jax.Array], jax.Array]:
    """Runs `critic_step` on each of the batch's n (augmented) minibatches, each followed by a
    target update; returns params, opt_state, mean metrics and the last minibatch's features."""
    n = batch["reward"].shape[0]

    def body(carry: tuple[dict, dict], inputs: tuple[dict, jax.Array]):
        params, opt_state = carry
        mb, k = inputs
        keys = split_named(k, ("augment", "step"))
        mb = actor_critic.augment(mb, keys["augment"])
        params, opt_state, metrics, features = critic_step(params, opt_state, mb, keys["step"])
        target = polyak(params["target_critic"], params["critic"], actor_critic.config.tau)
        return ({**params, "target_critic": target}, opt_state), (metrics, features)

    (params, opt_state), (metrics, features) = scan_minibatches(
        body,
        (state.params, state.opt_state),
        (batch, jax.random.split(key, n)),
        unrolled=has_images(batch),
    )
    return params, opt_state, jax.tree.map(jnp.mean, metrics), features[-1]


def make_actor_critic_update(
    actor_critic: ActorCritic, critic_step: CriticStep, q_fn: QFn
) -> Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]:
    """`update(state, batch, key)`: `critic_step` on each minibatch, then one actor and
    temperature step against `q_fn` on the last one's features (encoded once, as DrQ-v2 does).
    SAC and DSRL-NA differ only in those two."""

    def update(state: AgentState, batch: dict, key: jax.Array) -> tuple[AgentState, dict]:
        keys = split_named(key, ("critic", "actor"))
        params, opt_state, metrics, features = scan_critic_updates(
            actor_critic, critic_step, state, batch, keys["critic"]
        )
        params, opt_state, actor_metrics = actor_critic.actor_and_temperature_step(
            params, opt_state, features, keys["actor"], q_fn
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
        params, opt_state, loss, q, features = actor_critic.regress(
            params, opt_state, "critic", mb["obs"], mb["agent_action"], target
        )
        return params, opt_state, {"critic_loss": loss, "q_mean": q}, features

    def q_fn(params: dict, features: jax.Array, action: jax.Array) -> jax.Array:
        return jnp.mean(actor_critic.q_values(params, "critic", features, action), axis=0)

    return make_actor_critic_update(actor_critic, critic_step, q_fn)


def make_sac_critic_loss(
    actor_critic: ActorCritic,
) -> Callable[[AgentState, dict, jax.Array], jax.Array]:
    """Critic TD loss on the batch's first minibatch, without updating anything (diagnostics)."""

    def critic_loss(state: AgentState, batch: dict, key: jax.Array) -> jax.Array:
        mb = first_minibatch(batch)
        target = actor_critic.soft_target(state.params, mb, key)
        loss, _ = actor_critic.regression_loss(
            state.params, "critic", mb["obs"], mb["agent_action"], target
        )
        return loss

    return critic_loss
