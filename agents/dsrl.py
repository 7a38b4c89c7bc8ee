"""DSRL: reinforcement learning in the initial-noise space of a frozen diffusion policy.

Both variants keep the pretrained diffusion policy in `params["diffusion"]` and never update it;
the noise actor outputs w = noise_scale * tanh(u), and the action chunk sent to the robot is
`DiffusionPolicy.sample_actions(diffusion, obs, w)` (deterministic DDIM).

DSRL ("dsrl"): plain SAC whose action is w; the critic is Q(obs, w) and the replay buffer stores w.
  Its update is `agents.sac.make_sac_update` with action_scale = noise_scale.

DSRL-NA ("dsrl_na", noise-aliased, Wagenmaker et al. 2025): the replay buffer stores executed
action chunks.
  Q^A(obs, a)  twin critics trained by TD on actions; the next action is the diffusion policy's
               output for the noise actor's w' (no entropy term: the entropy lives in noise space).
  Q^W(obs, w)  a noise critic distilled from Q^A: regress Q^W(obs, w) on mean_i Q^A_i(obs,
               diffusion(obs, w)) for w ~ N(0, distill_noise_std^2), so noises that alias to the same
               action share a value.
  pi^W(w|obs)  the noise actor, trained by SAC's actor loss against Q^W, with a learned temperature.

On cameras both variants see `[normalised state, image features]`, by `DSRLConfig.image_encoder`:
  "frozen"     the frozen diffusion policy's encoder features: the replay buffer holds them
               (`obs["features"]`), computed once per observation, and the DDIM decoder reads the
               same, so no CNN runs in an update;
  "finetuned"  a copy of that encoder (`params["encoder"]`, starting from the base's weights)
               trained by the critic loss on randomly shifted stored frames, as pixel SAC's
               (DrQ-v2, agents/actor_critic.py);
  "keypoints"  the frozen features and learned colour keypoints (`DSRLConfig.keypoint_encoder`,
               `params["encoder"]`) trained the same way;
  "keypoints_only"  those keypoints alone, no frozen features: a bottleneck that cannot tell
               one stored scene from another by its look, only where colours are.
With frames in the replay buffer the DDIM decoder still reads the frozen features, computed in
each update from the unshifted frames (`with_base_features`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp

from agents.actor_critic import ActorCritic
from agents.diffusion import DiffusionPolicy
from agents.networks import split_named
from agents.sac import make_actor_critic_update
from agents.state import AgentState, first_minibatch

__all__ = ["make_dsrl_na_critic_loss", "make_dsrl_na_update", "with_base_features"]

Out = TypeVar("Out")


def _na_target(
    actor_critic: ActorCritic, policy: DiffusionPolicy, params: dict, mb: dict, key: jax.Array
):
    """r + gamma * discount * min_i Q^A'_i(s', diffusion(s', w')), w' ~ pi^W(s')."""
    next_features = actor_critic.actor_features(params, mb["next_obs"])
    next_noise, _ = actor_critic.sample_from(params["actor"], next_features, key)
    next_action = policy.sample_flat(params["diffusion"], mb["next_obs"], next_noise)
    next_q = jnp.min(
        actor_critic.q_values(params, "target_critic", next_features, next_action), axis=0
    )
    target = mb["reward"] + actor_critic.config.discount * mb["discount"] * jax.lax.stop_gradient(
        next_q
    )
    return actor_critic.finish_target(target, mb)


def _distill_inputs(
    policy: DiffusionPolicy, params: dict, obs: dict, noise_std: float, key: jax.Array, size: int
) -> tuple[jax.Array, jax.Array]:
    """Noise w ~ N(0, std^2) for the noise critic and the action chunk it decodes to."""
    batch = obs["state"].shape[0]
    noise = noise_std * jax.random.normal(key, (batch, size))
    return noise, policy.sample_flat(params["diffusion"], obs, noise)


def make_dsrl_na_update(
    actor_critic: ActorCritic, policy: DiffusionPolicy, distill_noise_std: float
) -> Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]:
    """Pure `update(state, batch, key) -> (state, metrics)` for DSRL-NA."""

    def critic_step(params: dict, opt_state: dict, mb: dict, key: jax.Array):
        keys = split_named(key, ("target", "distill"))
        target = _na_target(actor_critic, policy, params, mb, keys["target"])
        params, opt_state, loss, q, features = actor_critic.regress(
            params, opt_state, "critic", mb["obs"], mb["agent_action"], target
        )
        noise, action = _distill_inputs(
            policy, params, mb["obs"], distill_noise_std, keys["distill"], actor_critic.action_dim
        )
        distill_target = jnp.mean(actor_critic.q_values(params, "critic", features, action), axis=0)
        params, opt_state, d_loss, _, _ = actor_critic.regress(
            params, opt_state, "noise_critic", mb["obs"], noise, distill_target, features
        )
        metrics = {"critic_loss": loss, "q_mean": q, "distill_loss": d_loss}
        return params, opt_state, metrics, features

    def q_fn(params: dict, features: jax.Array, noise: jax.Array) -> jax.Array:
        return jnp.mean(actor_critic.q_values(params, "noise_critic", features, noise), axis=0)

    return make_actor_critic_update(actor_critic, critic_step, q_fn)


def with_base_features(
    policy: DiffusionPolicy, fn: Callable[[AgentState, dict, jax.Array], Out]
) -> Callable[[AgentState, dict, jax.Array], Out]:
    """`fn(state, batch, key)` (an update or a loss) on batches whose obs and next_obs carry the
    frozen base features: where the replay holds frames (an encoder trained on them), computed
    from the frames as recorded, before the critic's random shifts; stored features pass as
    they are."""

    def on_base_features(state: AgentState, batch: dict, key: jax.Array) -> Out:
        diffusion = state.params["diffusion"]
        batch = {
            **batch,
            "obs": policy.with_image_features(diffusion, batch["obs"]),
            "next_obs": policy.with_image_features(diffusion, batch["next_obs"]),
        }
        return fn(state, batch, key)

    return on_base_features


def make_dsrl_na_critic_loss(
    actor_critic: ActorCritic, policy: DiffusionPolicy
) -> Callable[[AgentState, dict, jax.Array], jax.Array]:
    """Q^A's TD loss on the batch's first minibatch, without updating anything (diagnostics)."""

    def critic_loss(state: AgentState, batch: dict, key: jax.Array) -> jax.Array:
        mb = first_minibatch(batch)
        target = _na_target(actor_critic, policy, state.params, mb, key)
        loss, _ = actor_critic.regression_loss(
            state.params, "critic", mb["obs"], mb["agent_action"], target
        )
        return loss

    return critic_loss
