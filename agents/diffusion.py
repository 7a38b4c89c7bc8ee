"""Diffusion policy over action chunks: x0-prediction training and deterministic DDIM sampling.

The policy maps (observation, initial noise) to an action chunk of shape (H, 7) through a fixed
number of DDIM steps with eta = 0, so `sample_actions(params, obs, noise)` is a pure deterministic
function of the noise: DSRL treats that noise as its action. Predicted clean chunks are clipped to
[-1, 1] at every step and the result is clipped too.

The network predicts the clean chunk x_0 from (obs, x_t, t) (the "sample" parameterisation); with
only a handful of DDIM steps this is better conditioned than predicting the noise, whose x_0
estimate divides by sqrt(alpha_bar_T) ~ 0.03 at the first step. Cosine schedule, T train steps.

Observations are `{"state": (B, D)}` or, with cameras, `{"state", "images": uint8 (B, C, H, W, 3)}`;
the camera CNN runs once per observation (`conditioning`), and DSRL hands in its stored
`"features"` beside or in place of the images (`with_image_features`), so the frozen encoder never reruns.

Usage:
    policy = DiffusionPolicy(DiffusionConfig(), obs_dim=D)
    params = policy.init(jax.random.key(0), obs_stats)
    loss, per_sample = policy.loss(params, obs, actions, key)              # BC objective
    chunk = policy.sample_actions(params, obs, noise)                      # (B, H, 7) in [-1, 1]
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from agents.config import DiffusionConfig
from agents.networks import MLP, ImageEncoder, ObsStats, as_obs

__all__ = ["DiffusionNet", "DiffusionPolicy", "cosine_alpha_bars", "ddim_timesteps"]


def cosine_alpha_bars(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Cumulative signal levels alpha_bar[t] for t = 0..T (alpha_bar[0] = 1), cosine schedule."""
    f = np.cos((np.arange(num_steps + 1) / num_steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, max_beta)
    return np.concatenate([[1.0], np.cumprod(1.0 - betas)]).astype(np.float32)


def ddim_timesteps(num_train_steps: int, num_sample_steps: int) -> list[int]:
    """Descending timesteps T..1 visited by DDIM (distinct ints, the first is T, the last is 1)."""
    steps = np.round(np.linspace(num_train_steps, 1, num_sample_steps)).astype(int)
    return [int(t) for t in steps]


def timestep_embedding(t: jax.Array, dim: int) -> jax.Array:
    """Sinusoidal embedding of integer timesteps t (...,) -> (..., dim)."""
    freqs = jnp.exp(-math.log(1000.0) * jnp.arange(dim // 2) / (dim // 2))
    angles = t.astype(jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class DiffusionNet(nn.Module):
    """x0(features, x_t, t): predicts the clean flattened chunk; with cameras, their CNN as well.

    `features` is the conditioning: the normalised state, then the camera features (see
    `DiffusionPolicy.conditioning`). The image encoder runs once per observation, not per DDIM step.
    """

    config: DiffusionConfig

    def setup(self) -> None:
        if self.config.encoder.uses_images:
            self.encoder = ImageEncoder.from_config(self.config.encoder)
        # Named as the compact module before them named them: state checkpoints from then load.
        self.Dense_0 = nn.Dense(2 * self.config.time_embed_dim)
        self.MLP_0 = MLP(self.config.hidden_dims, self.config.flat_action_dim, layer_norm=True)

    def image_features(self, images: jax.Array) -> jax.Array:
        return self.encoder(images)

    def denoise(self, features: jax.Array, x_t: jax.Array, t: jax.Array) -> jax.Array:
        temb = nn.swish(self.Dense_0(timestep_embedding(t, self.config.time_embed_dim)))
        return self.MLP_0(jnp.concatenate([features, x_t, temb], axis=-1))

    def __call__(self, state: jax.Array, images: jax.Array | None, x_t: jax.Array, t: jax.Array):
        """Both parts at once (what `init` calls, so every parameter is created)."""
        if images is not None:
            state = jnp.concatenate([state, self.image_features(images)], axis=-1)
        return self.denoise(state, x_t, t)


class DiffusionPolicy:
    """Holds the network definition and schedule (static); all methods are pure in `params`.

    `params` is a dict `{"net": flax params, "obs_stats": ObsStats}`; only "net" is trained (its
    image encoder included).
    """

    def __init__(self, config: DiffusionConfig, obs_dim: int):
        if obs_dim <= 0:
            raise ValueError(f"DiffusionPolicy: obs_dim must be positive, got {obs_dim}")
        self.config = config
        self.obs_dim = int(obs_dim)
        self.net = DiffusionNet(config)
        self.alpha_bars = cosine_alpha_bars(config.num_train_steps)
        self.timesteps = ddim_timesteps(config.num_train_steps, config.num_sample_steps)
        self.chunk_shape = (config.chunk_len, config.action_dim)
        self.sample_actions_jit = jax.jit(self.sample_actions)

    @property
    def uses_images(self) -> bool:
        return self.config.encoder.uses_images

    def dummy_obs(self, batch: int = 1) -> dict[str, jax.Array]:
        obs = {"state": jnp.zeros((batch, self.obs_dim), jnp.float32)}
        if self.uses_images:
            obs["images"] = jnp.zeros((batch, *self.config.encoder.frame_shape), jnp.uint8)
        return obs

    def init(self, key: jax.Array, obs_stats: ObsStats | None = None) -> dict[str, Any]:
        stats = obs_stats if obs_stats is not None else ObsStats.identity(self.obs_dim)
        obs = self.dummy_obs()
        x = jnp.zeros((1, self.config.flat_action_dim), jnp.float32)
        t = jnp.zeros((1,), jnp.int32)
        net = self.net.init(key, obs["state"], obs.get("images"), x, t)
        return {"net": net, "obs_stats": stats}

    def image_features(self, params: dict, images: jax.Array) -> jax.Array:
        """uint8 images (..., C, H, W, 3) -> the encoder's (..., C * F) features."""
        return self.net.apply(params["net"], images, method=DiffusionNet.image_features)

    def with_image_features(self, params: dict, obs: Any) -> dict[str, Any]:
        """`obs` with the encoder's "features" of its images beside them (DSRL: what the DDIM
        decoder reads, so the frozen encoder runs once; the images stay for a fine-tuned copy)."""
        obs = as_obs(obs)
        if not self.uses_images or "features" in obs:
            return obs
        return {**obs, "features": self.image_features(params, self._images(obs))}

    def conditioning(self, params: dict, obs: Any) -> jax.Array:
        """What the denoiser is conditioned on: the normalised state, then the camera features
        (from `obs["features"]` when given, else computed from `obs["images"]`)."""
        obs = as_obs(obs)
        state = params["obs_stats"].normalize(obs["state"].astype(jnp.float32))
        if not self.uses_images:
            return state
        features = obs["features"] if "features" in obs else None
        if features is None:
            features = self.image_features(params, self._images(obs))
        return jnp.concatenate([state, features.astype(jnp.float32)], axis=-1)

    def _images(self, obs: dict) -> jax.Array:
        if "images" not in obs:
            raise ValueError(
                f"DiffusionPolicy: the encoder sees {self.config.encoder.num_cameras} camera(s); "
                f"the observation needs 'images' uint8 (..., {self.config.encoder.frame_shape}), "
                f"got keys {sorted(obs)}"
            )
        return obs["images"]

    def predict_clean(self, params: dict, cond: jax.Array, x_t: jax.Array, t: jax.Array):
        """The network's estimate of the clean (flattened) chunk x_0 from x_t, given `cond`."""
        return self.net.apply(params["net"], cond, x_t, t, method=DiffusionNet.denoise)

    def loss(
        self,
        params: dict,
        obs: Any,
        actions: jax.Array,
        key: jax.Array,
        weights: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Denoising loss of action chunks (B, H, 7) or (B, H * 7); returns (weighted mean, per sample).

        With `weights` the mean is sum(w * l) / max(sum(w), eps), so all-zero weights give loss 0.
        """
        x0 = actions.reshape((actions.shape[0], -1))
        t_key, eps_key = jax.random.split(key)
        t = jax.random.randint(t_key, (x0.shape[0],), 1, self.config.num_train_steps + 1)
        eps = jax.random.normal(eps_key, x0.shape)
        ab = jnp.asarray(self.alpha_bars)[t][:, None]
        x_t = jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * eps
        cond = self.conditioning(params, obs)
        per_sample = jnp.mean((self.predict_clean(params, cond, x_t, t) - x0) ** 2, axis=-1)
        if weights is None:
            return jnp.mean(per_sample), per_sample
        return jnp.sum(weights * per_sample) / jnp.maximum(jnp.sum(weights), 1e-6), per_sample

    def sample_flat(self, params: dict, obs: Any, noise: jax.Array) -> jax.Array:
        """Deterministic DDIM (eta = 0) from flat noise (..., H * 7) to a flat chunk in [-1, 1]."""
        cond = self.conditioning(params, obs)
        x = noise
        ab = self.alpha_bars
        for i, t in enumerate(self.timesteps):
            t_prev = self.timesteps[i + 1] if i + 1 < len(self.timesteps) else 0
            t_arr = jnp.full(x.shape[:-1], t, jnp.int32)
            x0 = jnp.clip(self.predict_clean(params, cond, x, t_arr), -1.0, 1.0)
            eps = (x - math.sqrt(ab[t]) * x0) / math.sqrt(1.0 - ab[t])
            x = math.sqrt(ab[t_prev]) * x0 + math.sqrt(1.0 - ab[t_prev]) * eps
        return jnp.clip(x, -1.0, 1.0)

    def sample_actions(self, params: dict, obs: Any, noise: jax.Array) -> jax.Array:
        """Noise (..., H, 7) -> action chunk (..., H, 7) in [-1, 1]; pure and deterministic."""
        if noise.shape[-2:] != self.chunk_shape:
            raise ValueError(
                f"DiffusionPolicy: noise must end in {self.chunk_shape}, got {noise.shape}"
            )
        flat = self.sample_flat(params, obs, noise.reshape((*noise.shape[:-2], -1)))
        return flat.reshape(noise.shape)
