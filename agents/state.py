"""The learner state shared by every agent, and small pure optimisation helpers.

A batch is a dict of arrays with a leading (n, B) shape, n minibatches of B transitions:
  obs, next_obs   dicts {"state": float (n, B, D)}, with cameras also "images": uint8
                  (n, B, C, H, W, 3) (SAC, BC) or "features": float (n, B, C * F) (DSRL)
  agent_action    float (n, B, A): the flattened DSRL noise or action chunk (A = H * 7)
  reward          float (n, B): terminal reward on an episode's last decision, else 0
  discount        float (n, B): 0 where the episode truly ended, 1 where it bootstraps
  episode_return  float (n, B): the terminal reward of the episode the transition belongs to
  steps_to_end    float (n, B): decisions after this one in its episode (0 on the last)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

__all__ = [
    "AgentState",
    "apply_grads",
    "first_minibatch",
    "has_images",
    "last_minibatch",
    "polyak",
    "scan_minibatches",
]


@struct.dataclass
class AgentState:
    """Named parameter sets and their optimiser states; changed only with `.replace`.

    params keys (by agent): "actor", "critic", "target_critic", "noise_critic", "log_alpha",
    "diffusion" (frozen in DSRL), "obs_stats". opt_state has one entry per trained part.
    """

    params: dict[str, Any]
    opt_state: dict[str, Any]
    step: jax.Array  # int32 scalar: `update` calls applied so far


def apply_grads(
    tx: optax.GradientTransformation, params: Any, opt_state: Any, grads: Any
) -> tuple[Any, Any]:
    """One optimiser step; returns (new params, new optimiser state)."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def polyak(target: Any, online: Any, tau: float) -> Any:
    """target <- (1 - tau) * target + tau * online, leaf by leaf."""
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def first_minibatch(batch: dict[str, Any]) -> dict[str, Any]:
    return jax.tree.map(lambda x: x[0], batch)


def last_minibatch(batch: dict[str, Any]) -> dict[str, Any]:
    return jax.tree.map(lambda x: x[-1], batch)


def has_images(batch: dict[str, Any]) -> bool:
    """True if the batch carries camera images (a static fact of its structure)."""
    return "images" in batch.get("obs", {})


def scan_minibatches(
    body: Callable[[Any, Any], tuple[Any, Any]], carry: Any, xs: Any, *, unrolled: bool
) -> tuple[Any, Any]:
    """`jax.lax.scan(body, carry, xs)`, or the same loop unrolled in Python when `unrolled`.

    Unroll where the body runs convolutions: XLA:CPU runs their gradients about 10x slower inside
    a while loop (jax-ml/jax#12868), and n, the minibatches per update, is small.
    """
    if not unrolled:
        return jax.lax.scan(body, carry, xs)
    ys = []
    for i in range(jax.tree.leaves(xs)[0].shape[0]):
        carry, y = body(carry, jax.tree.map(lambda x, i=i: x[i], xs))
        ys.append(y)
    return carry, jax.tree.map(lambda *y: jnp.stack(y), *ys)
