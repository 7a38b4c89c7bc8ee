"""Behaviour-cloning pretraining of the diffusion policy on demonstrations.

Every control step t of every demo gives one sample: obs[t] -> the chunk actions[t : t + H]
(padded by repeating the episode's last action). Observation statistics for normalisation are
computed from all demo observations and stored in the params. The dataset lives on the device and
minibatches are drawn inside a jitted `lax.scan` of up to 100 steps, so the host does little.

Usage:
    params, metrics = pretrain_diffusion([(obs, actions), ...], DiffusionConfig(), jax.random.key(0))
    save_diffusion(path, params, config, obs_dim=obs.shape[1], metrics=metrics)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.bc import make_bc_update
from agents.config import AgentConfig, BCConfig, DiffusionConfig
from agents.diffusion import DiffusionPolicy
from agents.networks import compute_obs_stats, split_named
from agents.replay import pad_chunks
from agents.state import AgentState

__all__ = ["demo_dataset", "pretrain_diffusion"]

_STEPS_PER_CALL = 100


def demo_dataset(demos: Sequence[tuple], chunk_len: int) -> dict[str, np.ndarray]:
    """Stacks demos (obs (N+1, D), actions (N, 7)[, images (N+1, H, W, 3)]) into BC samples."""
    if not demos:
        raise ValueError("pretrain_diffusion: no demonstrations given")
    obs, chunks, images, all_obs = [], [], [], []
    for i, demo in enumerate(demos):
        if len(demo) not in (2, 3):
            raise ValueError(f"pretrain_diffusion: demo {i} must be (obs, actions[, images])")
        o, a = np.asarray(demo[0], np.float32), np.asarray(demo[1], np.float32)
        if a.ndim != 2 or len(a) == 0 or o.ndim != 2 or len(o) != len(a) + 1:
            raise ValueError(
                f"pretrain_diffusion: demo {i} needs obs (N + 1, D) and actions (N, A) with N >= 1, "
                f"got {o.shape} and {a.shape}"
            )
        starts = np.arange(len(a))
        obs.append(o[:-1])
        all_obs.append(o)
        chunks.append(pad_chunks(a, starts, chunk_len))
        if len(demo) == 3:
            images.append(np.asarray(demo[2])[:-1])
    if images and len(images) != len(demos):
        raise ValueError("pretrain_diffusion: either every demo has images or none has")
    data = {"state": np.concatenate(obs), "actions": np.concatenate(chunks)}
    data["all_states"] = np.concatenate(all_obs)
    if images:
        data["image"] = np.concatenate(images)
    return data


def pretrain_diffusion(
    demos: Sequence[tuple],
    config: DiffusionConfig | AgentConfig,
    key: jax.Array,
    *,
    on_progress: Callable[[int, float], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fits the diffusion policy by BC; returns `(params, metrics)`.

    metrics: steps, samples, seconds, loss_initial / loss_final (mean loss of the first and last
    100 steps), losses (one mean per 100 steps), action_mse (DDIM from N(0, I) noise against the
    demo chunk, on up to 512 samples). `on_progress(step, loss)` is called every 100 steps.
    """
    if isinstance(config, AgentConfig):
        config = config.diffusion
    if config.encoder.use_images and len(demos[0]) != 3:
        raise ValueError("pretrain_diffusion: the encoder uses images; give (obs, actions, images)")
    data = demo_dataset(demos, config.chunk_len)
    if data["actions"].shape[-1] != config.action_dim:
        raise ValueError(
            f"pretrain_diffusion: actions have {data['actions'].shape[-1]} dims, "
            f"config.action_dim is {config.action_dim}"
        )
    policy = DiffusionPolicy(config, data["state"].shape[1])
    keys = split_named(key, ("init", "train", "eval"))
    params = policy.init(keys["init"], compute_obs_stats(data.pop("all_states")))
    tx = optax.adam(config.learning_rate)
    update = make_bc_update(policy, tx, "none", BCConfig())
    obs = {k: jnp.asarray(v) for k, v in data.items() if k in ("state", "image")}
    actions = jnp.asarray(data["actions"].reshape(len(data["actions"]), -1))
    num = actions.shape[0]
    length = min(_STEPS_PER_CALL, config.pretrain_steps)

    @jax.jit
    def train_block(state: AgentState, key: jax.Array) -> tuple[AgentState, jax.Array]:
        def body(state: AgentState, k: jax.Array):
            k_idx, k_upd = jax.random.split(k)
            idx = jax.random.randint(k_idx, (1, config.batch_size), 0, num)
            batch = {
                "obs": jax.tree.map(lambda x: x[idx], obs),
                "agent_action": actions[idx],
                "episode_return": jnp.ones(idx.shape, jnp.float32),
            }
            state, metrics = update(state, batch, k_upd)
            return state, metrics["bc_loss"]

        return jax.lax.scan(body, state, jax.random.split(key, length))

    state = AgentState(
        params={"diffusion": params},
        opt_state={"diffusion": tx.init(params["net"])},
        step=jnp.zeros((), jnp.int32),
    )
    losses, start = [], time.perf_counter()
    for block in range(math.ceil(config.pretrain_steps / length)):
        state, block_losses = train_block(state, jax.random.fold_in(keys["train"], block))
        losses.append(float(jnp.mean(block_losses)))
        if on_progress is not None:
            on_progress((block + 1) * length, losses[-1])
    params = state.params["diffusion"]
    metrics = {
        "steps": int(state.step),
        "samples": int(num),
        "seconds": time.perf_counter() - start,
        "loss_initial": losses[0],
        "loss_final": losses[-1],
        "losses": losses,
        "action_mse": _action_mse(policy, params, obs, actions, keys["eval"]),
    }
    return params, metrics


def _action_mse(policy: DiffusionPolicy, params: dict, obs: dict, actions: jax.Array, key) -> float:
    """Mean squared error of DDIM samples (random noise) against demo chunks, on <= 512 samples."""
    keys = split_named(key, ("pick", "noise"))
    idx = jax.random.permutation(keys["pick"], actions.shape[0])[:512]
    noise = jax.random.normal(keys["noise"], actions[idx].shape)
    sampled = jax.jit(policy.sample_flat)(params, jax.tree.map(lambda x: x[idx], obs), noise)
    return float(jnp.mean((sampled - actions[idx]) ** 2))
