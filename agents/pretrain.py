"""Behaviour-cloning pretraining of the diffusion policy on demonstrations.

Every control step t of every demo gives one sample: obs[t] -> the chunk actions[t : t + H]
(padded by repeating the episode's last action). Observation statistics for normalisation are
computed from all demo observations and stored in the params. The dataset lives on the device and
minibatches are drawn inside a jitted `lax.scan` of up to 100 steps, so the host does little.

With cameras (`EncoderConfig.num_cameras > 0`) every demo brings images (N + 1, C, H, W, 3) uint8,
the C cameras in the env's order; one CNN with shared weights encodes each camera, and every BC
step sees randomly shifted images (DrQ, `EncoderConfig.augment_pad`). The images sit on the device
too: N * C * H * W * 3 bytes (10,000 steps of two 64x64 cameras: 246 MB).

Usage:
    params, metrics = pretrain_diffusion([(obs, actions), ...], DiffusionConfig(), jax.random.key(0))
    params, metrics = pretrain_diffusion([(obs, actions, images), ...], pixel_config, key)
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


def demo_dataset(
    demos: Sequence[tuple], chunk_len: int, frame_shape: tuple[int, ...] | None = None
) -> dict[str, np.ndarray]:
    """Stacks demos (obs (N+1, D), actions (N, 7)[, images (N+1, C, H, W, 3)]) into BC samples.

    With `frame_shape` (C, H, W, 3) every demo must bring images of that shape; without it, images
    are left out.
    """
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
        if frame_shape is not None:
            images.append(_demo_images(demo, i, (len(o), *frame_shape))[:-1])
    data = {"state": np.concatenate(obs), "actions": np.concatenate(chunks)}
    data["all_states"] = np.concatenate(all_obs)
    if images:
        data["images"] = np.concatenate(images)
    return data


def _demo_images(demo: tuple, index: int, expected: tuple[int, ...]) -> np.ndarray:
    images = np.asarray(demo[2]) if len(demo) == 3 else None
    if images is None or images.dtype != np.uint8 or images.shape != expected:
        got = "no images" if images is None else f"{images.dtype} {images.shape}"
        raise ValueError(
            f"pretrain_diffusion: the encoder sees {expected[1]} camera(s); demo {index} must be "
            f"(obs, actions, images uint8 {expected} (N + 1, C, H, W, 3)), got {got}"
        )
    return images


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
    frame_shape = config.encoder.frame_shape if config.encoder.uses_images else None
    data = demo_dataset(demos, config.chunk_len, frame_shape)
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
    obs = {k: jnp.asarray(v) for k, v in data.items() if k in ("state", "images")}
    actions = jnp.asarray(data["actions"].reshape(len(data["actions"]), -1))
    num = actions.shape[0]
    length = min(_STEPS_PER_CALL, config.pretrain_steps)

    dataset = {"obs": obs, "actions": actions}

    def train_step(state: AgentState, dataset: dict, k: jax.Array) -> tuple[AgentState, jax.Array]:
        k_idx, k_upd = jax.random.split(k)
        idx = jax.random.randint(k_idx, (1, config.batch_size), 0, num)
        batch = {
            "obs": jax.tree.map(lambda x: x[idx], dataset["obs"]),
            "agent_action": dataset["actions"][idx],
            "episode_return": jnp.ones(idx.shape, jnp.float32),
        }
        state, metrics = update(state, batch, k_upd)
        return state, metrics["bc_loss"]

    train_block = _block_runner(train_step, length, unrolled=policy.uses_images)
    state = AgentState(
        params={"diffusion": params},
        opt_state={"diffusion": tx.init(params["net"])},
        step=jnp.zeros((), jnp.int32),
    )
    losses, start = [], time.perf_counter()
    for block in range(math.ceil(config.pretrain_steps / length)):
        state, block_losses = train_block(state, dataset, jax.random.fold_in(keys["train"], block))
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


def _block_runner(train_step: Callable, length: int, *, unrolled: bool) -> Callable:
    """`(state, dataset, key) -> (state, losses (length,))`: `length` steps in one jitted scan, or,
    on images, one jitted call per step (XLA:CPU runs convolution gradients about 10x slower
    inside a loop, jax-ml/jax#12868; a step on images outweighs a call's overhead anyway)."""
    if not unrolled:

        @jax.jit
        def scanned(state: AgentState, dataset: dict, key: jax.Array):
            keys = jax.random.split(key, length)
            return jax.lax.scan(lambda s, k: train_step(s, dataset, k), state, keys)

        return scanned
    step = jax.jit(train_step)

    def stepped(state: AgentState, dataset: dict, key: jax.Array):
        losses = []
        for k in jax.random.split(key, length):
            state, loss = step(state, dataset, k)
            losses.append(loss)
        return state, jnp.stack(losses)

    return stepped


def _action_mse(policy: DiffusionPolicy, params: dict, obs: dict, actions: jax.Array, key) -> float:
    """Mean squared error of DDIM samples (random noise) against demo chunks, on <= 512 samples."""
    keys = split_named(key, ("pick", "noise"))
    idx = jax.random.permutation(keys["pick"], actions.shape[0])[:512]
    noise = jax.random.normal(keys["noise"], actions[idx].shape)
    sampled = jax.jit(policy.sample_flat)(params, jax.tree.map(lambda x: x[idx], obs), noise)
    return float(jnp.mean((sampled - actions[idx]) ** 2))
