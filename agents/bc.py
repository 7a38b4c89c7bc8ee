"""Behaviour cloning of the diffusion policy: pretraining on demos and reward-weighted fine-tuning.

`make_bc_update(policy, tx, weighting)` builds `update(state, batch, key)` for the denoising loss
on `batch["agent_action"]` (executed action chunks). Weighting of each transition by the terminal
reward of its episode (`batch["episode_return"]`):
  "none"      every transition counts (pretraining on demonstrations)
  "filtered"  weight 1 if episode_return >= threshold else 0 (filtered BC)
  "weighted"  weight exp((episode_return - batch max) / temperature) (reward-weighted regression)
Demonstrations carry `ReplayConfig.demo_reward` as their return, so they pass a sensible filter.
On cameras every step trains the image encoder too, on randomly shifted images (DrQ's augmentation,
`EncoderConfig.augment_pad`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from agents.augment import augment_images
from agents.config import BCConfig
from agents.diffusion import DiffusionPolicy
from agents.networks import split_named
from agents.state import (
    AgentState,
    apply_grads,
    first_minibatch,
    has_images,
    scan_minibatches,
)

__all__ = ["bc_weights", "make_bc_loss", "make_bc_update"]


def bc_weights(episode_return: jax.Array, weighting: str, config: BCConfig) -> jax.Array | None:
    """Per-transition weights for the BC loss, or None for uniform weights."""
    if weighting == "none":
        return None
    if weighting == "filtered":
        return (episode_return >= config.return_threshold).astype(jnp.float32)
    if weighting == "weighted":
        return jnp.exp((episode_return - jnp.max(episode_return)) / config.temperature)
    raise ValueError(
        f"bc_weights: weighting must be 'none', 'filtered' or 'weighted', got {weighting!r}"
    )


def make_bc_loss(
    policy: DiffusionPolicy, weighting: str, config: BCConfig
) -> Callable[[AgentState, dict, jax.Array], jax.Array]:
    """Weighted denoising loss on the batch's first minibatch (diagnostics, no update)."""

    def loss(state: AgentState, batch: dict, key: jax.Array) -> jax.Array:
        mb = first_minibatch(batch)
        weights = bc_weights(mb["episode_return"], weighting, config)
        value, _ = policy.loss(
            state.params["diffusion"], mb["obs"], mb["agent_action"], key, weights
        )
        return value

    return loss


def make_bc_update(
    policy: DiffusionPolicy, tx: optax.GradientTransformation, weighting: str, config: BCConfig
) -> Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]:
    """Pure `update(state, batch, key) -> (state, metrics)`: one Adam step per minibatch (scan)."""
    bc_weights(jnp.zeros((1,)), weighting, config)  # fail now on a bad weighting, not when traced
    pad = policy.config.encoder.augment_pad

    def minibatch_step(carry: tuple, inputs: tuple):
        diffusion, opt = carry
        mb, key = inputs
        keys = split_named(key, ("augment", "loss"))
        obs = augment_images(mb["obs"], keys["augment"], pad)
        weights = bc_weights(mb["episode_return"], weighting, config)

        def loss_fn(net):
            params = {**diffusion, "net": net}
            return policy.loss(params, obs, mb["agent_action"], keys["loss"], weights)[0]

        loss, grads = jax.value_and_grad(loss_fn)(diffusion["net"])
        net, opt = apply_grads(tx, diffusion["net"], opt, grads)
        weight_mean = jnp.mean(weights) if weights is not None else jnp.ones(())
        return ({**diffusion, "net": net}, opt), {"bc_loss": loss, "bc_weight_mean": weight_mean}

    def update(state: AgentState, batch: dict, key: jax.Array) -> tuple[AgentState, dict]:
        n = batch["agent_action"].shape[0]
        carry = (state.params["diffusion"], state.opt_state["diffusion"])
        (diffusion, opt), metrics = scan_minibatches(
            minibatch_step, carry, (batch, jax.random.split(key, n)), unrolled=has_images(batch)
        )
        new_state = state.replace(
            params={**state.params, "diffusion": diffusion},
            opt_state={**state.opt_state, "diffusion": opt},
            step=state.step + 1,
        )
        return new_state, jax.tree.map(jnp.mean, metrics)

    return update
