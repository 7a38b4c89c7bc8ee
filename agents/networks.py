"""Flax linen networks shared by the agents, plus small pure helpers (keys, observations).

Observations inside the learner are dicts: `{"state": float (..., D)}` and, when the encoder uses
cameras, `"images": uint8 (..., C, H, W, 3)` (C cameras in the env's camera order), or for DSRL
`"features": float (..., C * F)`, the frozen base encoder's output in place of the images.
`as_obs` turns a bare state array into that dict. The state is normalised with fixed statistics
(`ObsStats`) before it reaches any network. Actor and critic heads take flat features: the
normalised state followed by the image features (`agents.actor_critic.ActorCritic.encode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from agents.config import ACTOR_LOG_STD_RANGE, EncoderConfig

__all__ = [
    "Critic",
    "ImageEncoder",
    "MLP",
    "ObsStats",
    "TanhGaussianActor",
    "as_obs",
    "compute_obs_stats",
    "spatial_softmax",
    "split_named",
    "tanh_gaussian_sample",
]

_LOG_STD_MIN, _LOG_STD_MAX = ACTOR_LOG_STD_RANGE
# Kernel scale of the actor's last layer when its log std is set at init: the DSRL code's heads
# (jaxrl2's LearnedStdTanhNormalPolicy) start at 1e-2, so mean ~ 0 and log std ~ its bias.
_SMALL_HEAD_SCALE = 1e-2


def split_named(key: jax.Array, names: Sequence[str]) -> dict[str, jax.Array]:
    """Splits `key` into one independent key per role name (brax style)."""
    keys = jax.random.split(key, len(names))
    return {name: keys[i] for i, name in enumerate(names)}


@struct.dataclass
class ObsStats:
    """Per-dimension mean and std of the state vector, fixed after pretraining / demos."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def identity(cls, obs_dim: int) -> ObsStats:
        return cls(mean=jnp.zeros((obs_dim,), jnp.float32), std=jnp.ones((obs_dim,), jnp.float32))

    def normalize(self, state: jax.Array) -> jax.Array:
        return (state - self.mean) / self.std


def compute_obs_stats(states: np.ndarray, min_std: float = 1e-3) -> ObsStats:
    """Statistics of a (N, D) array of states; near-constant dimensions get std `min_std`."""
    states = np.asarray(states, np.float32)
    if states.ndim != 2 or len(states) == 0:
        raise ValueError(
            f"compute_obs_stats: states must be a non-empty (N, D) array, got {states.shape}"
        )
    std = np.maximum(states.std(axis=0), min_std)
    return ObsStats(mean=jnp.asarray(states.mean(axis=0)), std=jnp.asarray(std))


def as_obs(obs: Any) -> dict[str, Any]:
    """A bare state array becomes `{"state": obs}`; a dict is returned as it is."""
    if isinstance(obs, dict):
        if "state" not in obs:
            raise ValueError(f"observation dict needs a 'state' entry, got keys {sorted(obs)}")
        return obs
    return {"state": obs}


class MLP(nn.Module):
    """Dense layers with swish activations, optional LayerNorm; the last layer is linear.

    `out_scale` scales the last layer's initial kernel (None: Flax's default init).
    """

    hidden_dims: Sequence[int]
    out_dim: int
    layer_norm: bool = False
    out_scale: float | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_dims:
            x = nn.Dense(width)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.swish(x)
        if self.out_scale is None:
            return nn.Dense(self.out_dim)(x)
        init = nn.initializers.variance_scaling(self.out_scale**2, "fan_in", "truncated_normal")
        return nn.Dense(self.out_dim, kernel_init=init)(x)


class StridedConv(nn.Module):
    """nn.Conv (square kernel, SAME padding, stride) on (N, H, W, C), as one matmul over patches.

    The same parameters, initialisation and output as `nn.Conv(features, (k, k), (s, s))`, but
    XLA:CPU runs its gradient about 1.6x faster than a convolution's at these sizes (64x64
    images, a few dozen channels): the patches are k * k strided slices, concatenated.
    """

    features: int
    kernel: int
    stride: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s, channels = self.kernel, self.stride, x.shape[-1]
        weights = self.param("kernel", nn.initializers.lecun_normal(), (k, k, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        height, width = x.shape[-3:-1]
        if k == s and height % s == 0 and width % s == 0:  # non-overlapping patches: a reshape
            x = x.reshape((-1, height // s, s, width // s, s, channels)).swapaxes(2, 3)
            patches = x.reshape((*x.shape[:3], -1))
        else:
            out_h, out_w = -(-height // s), -(-width // s)
            pads = [(total // 2, total - total // 2)
                    for total in (max((out_h - 1) * s + k - height, 0), max((out_w - 1) * s + k - width, 0))]
            x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
            patches = jnp.concatenate(  # (i, j, channel): the kernel's order
                [x[:, i : i + (out_h - 1) * s + 1 : s, j : j + (out_w - 1) * s + 1 : s, :]
                 for i in range(k) for j in range(k)], axis=-1)
        return patches @ weights.reshape(-1, self.features) + bias


def spatial_softmax(feature_map: jax.Array, temperature: jax.Array) -> jax.Array:
    """(N, H, W, K) -> (N, 2K): each channel's softmax-weighted mean (x, y) position in [-1, 1].

    Levine et al.'s keypoints (as robomimic's SpatialSoftmax): a channel that fires on one object
    reports where it is, as two numbers that move smoothly with it.
    """
    n, height, width, channels = feature_map.shape
    logits = feature_map.reshape((n, height * width, channels)) / temperature
    weights = jax.nn.softmax(logits, axis=1)
    ys, xs = jnp.meshgrid(jnp.linspace(-1.0, 1.0, height), jnp.linspace(-1.0, 1.0, width),
                          indexing="ij")
    grid = jnp.stack([xs.reshape(-1), ys.reshape(-1)], axis=-1)  # (H * W, 2)
    keypoints = jnp.einsum("npk,pc->nkc", weights, grid)
    return keypoints.reshape((n, 2 * channels))


class ImageEncoder(nn.Module):
    """uint8 camera images (..., C, H, W, 3) -> (..., C * feature_dim) features.

    One CNN with weights shared by the cameras: the camera axis joins the batch, and each camera's
    features are concatenated in camera order. Layers: a `patch_size` x `patch_size` conv with
    stride `patch_size` (a patchify stem), 3x3 stride-2 convs, the last map flattened or pooled
    to keypoints (`pooling`), then Dense + LayerNorm + tanh.
    """

    conv_channels: Sequence[int]
    feature_dim: int
    patch_size: int = 4
    pooling: str = "flatten"  # or "spatial_softmax": `spatial_softmax` of the last conv map

    @classmethod
    def from_config(cls, config: EncoderConfig) -> ImageEncoder:
        return cls(tuple(config.conv_channels), config.feature_dim, config.patch_size,
                   config.pooling)

    @nn.compact
    def __call__(self, images: jax.Array) -> jax.Array:
        batch_shape, cameras = images.shape[:-4], images.shape[-4]
        x = images.reshape((-1, *images.shape[-3:])).astype(jnp.float32) / 255.0 - 0.5
        # Named as nn.Conv names its layers, so checkpoints fitted before keep loading.
        x = nn.swish(StridedConv(self.conv_channels[0], self.patch_size, self.patch_size,
                                 name="Conv_0")(x))
        for i, channels in enumerate(self.conv_channels[1:], start=1):
            x = nn.swish(StridedConv(channels, 3, 2, name=f"Conv_{i}")(x))
        if self.pooling == "spatial_softmax":
            # Learned, as robomimic's: how sharply each keypoint picks its peak.
            log_temperature = self.param("log_softmax_temperature", nn.initializers.zeros, ())
            x = spatial_softmax(x, jnp.exp(log_temperature))
        else:
            x = x.reshape((x.shape[0], -1))
        x = jnp.tanh(nn.LayerNorm()(nn.Dense(self.feature_dim)(x)))
        return x.reshape((*batch_shape, cameras * self.feature_dim))


class Critic(nn.Module):
    """An ensemble of Q(features, action) MLPs on flat observation features; (num_critics, ...)."""

    hidden_dims: Sequence[int]
    num_critics: int = 2
    layer_norm: bool = True

    @nn.compact
    def __call__(self, features: jax.Array, action: jax.Array) -> jax.Array:
        x = jnp.concatenate([features, action], axis=-1)
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.num_critics,
        )
        return ensemble(self.hidden_dims, 1, self.layer_norm)(x)[..., 0]


class TanhGaussianActor(nn.Module):
    """features -> (mean, log_std) of a Gaussian whose samples are squashed: a = scale * tanh(u).

    The log std is squashed into [_LOG_STD_MIN, _LOG_STD_MAX]. With `init_log_std` set, the last
    layer starts near zero and a fixed offset makes the log std `init_log_std` at init (mean ~ 0).
    """

    hidden_dims: Sequence[int]
    action_dim: int
    init_log_std: float | None = None

    @nn.compact
    def __call__(self, features: jax.Array) -> tuple[jax.Array, jax.Array]:
        out_scale = None if self.init_log_std is None else _SMALL_HEAD_SCALE
        out = MLP(self.hidden_dims, 2 * self.action_dim, out_scale=out_scale)(features)
        mean, log_std = jnp.split(out, 2, axis=-1)
        half_range = 0.5 * (_LOG_STD_MAX - _LOG_STD_MIN)
        if self.init_log_std is not None:
            # tanh(offset) maps a zero output to init_log_std (checked inside the range).
            log_std = log_std + np.arctanh((self.init_log_std - _LOG_STD_MIN) / half_range - 1.0)
        log_std = _LOG_STD_MIN + half_range * (jnp.tanh(log_std) + 1.0)
        return mean, log_std


def tanh_gaussian_sample(
    mean: jax.Array, log_std: jax.Array, scale: float, key: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """Samples a = scale * tanh(mean + std * eps) and its log density (sum over the last axis).

    With `key=None` the sample is the deterministic mode `scale * tanh(mean)`.
    """
    std = jnp.exp(log_std)
    eps = jnp.zeros_like(mean) if key is None else jax.random.normal(key, mean.shape)
    u = mean + std * eps
    gauss_logp = -0.5 * eps**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    # log|d a / d u| = log(scale) + log(1 - tanh(u)^2), written stably.
    log_det = jnp.log(scale) + 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return scale * jnp.tanh(u), jnp.sum(gauss_logp - log_det, axis=-1)
