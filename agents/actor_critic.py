"""`ActorCritic`: SAC's actor, critic ensemble and temperature, as pure functions of params.

Shared by SAC on action chunks (RLPD) and DSRL (SAC on the diffusion policy's noise); the updates
that use it are in `agents.sac` (and `agents.dsrl`). Critic targets use the min over the ensemble;
the actor maximises the ensemble mean.

What actor and critics see (`obs_input`), always as one flat feature vector (`encode`):
  "state"     the normalised state;
  "features"  the normalised state, then `obs["features"]` (DSRL on cameras: the frozen base
              encoder's output, computed once per observation when it enters the replay buffer);
  "pixels"    the normalised state, then a CNN on `obs["images"]` (SAC on cameras, and DSRL with
              a fine-tuned copy of the base encoder or with colour keypoints alone,
              `DSRLConfig.image_encoder`; as DrQ-v2):
              ONE encoder, `params["encoder"]`, shared by the critic ensemble and trained by the
              critic loss only, on randomly shifted images (obs and next_obs). The actor reads the
              encoder's features with the gradient stopped; the target critic's heads read the
              online encoder's (stopped) next_obs features, so there is no target encoder.
  "features_and_pixels"  the normalised state, `obs["features"]` (`frozen_features` numbers),
              then the trained CNN's (DSRL's learned colour keypoints beside the frozen base
              features, `DSRLConfig.image_encoder="keypoints"`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from agents.augment import augment_images
from agents.config import EncoderConfig, SACConfig
from agents.networks import (
    Critic,
    ImageEncoder,
    ObsStats,
    TanhGaussianActor,
    split_named,
    tanh_gaussian_sample,
)
from agents.state import apply_grads, polyak

__all__ = ["ENCODER_OBS_INPUTS", "OBS_INPUTS", "ActorCritic", "QFn"]

OBS_INPUTS = ("state", "features", "pixels", "features_and_pixels")  # see the module docstring
ENCODER_OBS_INPUTS = ("pixels", "features_and_pixels")  # those with a CNN in `params["encoder"]`

# q_fn(params, features, action) -> (B,) values the actor climbs.
QFn = Callable[[dict, jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class ActorCritic:
    """Actor and critic networks with their optimisers, for an action of size `action_dim`
    bounded to [-action_scale, action_scale] (an action chunk for SAC, the noise for DSRL)."""

    config: SACConfig
    encoder: EncoderConfig
    action_dim: int
    action_scale: float
    action_prior_weight: float = 0.0  # actor loss + weight * |a|^2 / 2 (DSRL's noise prior)
    obs_input: str = "state"  # one of OBS_INPUTS (module docstring)
    frozen_features: int = 0  # "features_and_pixels": the size of obs["features"]

    def __post_init__(self) -> None:
        if self.obs_input not in OBS_INPUTS:
            raise ValueError(
                f"ActorCritic: obs_input must be one of {OBS_INPUTS}, got {self.obs_input!r}"
            )
        c = self.config
        set_field = object.__setattr__
        set_field(
            self, "actor", TanhGaussianActor(c.hidden_dims, self.action_dim, c.init_log_std)
        )
        set_field(self, "critic", Critic(c.hidden_dims, c.num_critics, c.critic_layer_norm))
        pixels = self.obs_input in ENCODER_OBS_INPUTS
        set_field(self, "image_encoder", ImageEncoder.from_config(self.encoder) if pixels else None)
        set_field(
            self,
            "tx",
            {
                "actor": optax.adam(c.actor_lr),
                "critic": optax.adam(c.critic_lr),
                "encoder": optax.adam(c.critic_lr),
                "noise_critic": optax.adam(c.critic_lr),
                "log_alpha": optax.adam(c.temperature_lr),
            },
        )

    @property
    def target_entropy(self) -> float:
        return -self.config.target_entropy_scale * self.action_dim

    @property
    def trains_encoder(self) -> bool:
        return self.obs_input in ENCODER_OBS_INPUTS

    @property
    def trained_names(self) -> tuple[str, ...]:
        """The param entries this actor-critic's optimisers update."""
        return ("actor", "critic", "log_alpha", *(("encoder",) if self.trains_encoder else ()))

    def feature_size(self, obs_dim: int) -> int:
        """Size of the flat features actor and critics see for a state of `obs_dim`."""
        if self.obs_input == "state":
            return obs_dim
        frozen = self.frozen_features if self.obs_input == "features_and_pixels" else 0
        return obs_dim + frozen + self.encoder.image_feature_size

    def init_params(self, key: jax.Array, obs_dim: int, stats: ObsStats) -> dict[str, Any]:
        """Actor, critic, target critic (a copy), log temperature, and the CNN for "pixels"."""
        keys = split_named(key, ("actor", "critic", "encoder"))
        features = jnp.zeros((1, self.feature_size(obs_dim)), jnp.float32)
        critic = self.init_critic(keys["critic"], obs_dim)
        params = {
            "actor": self.actor.init(keys["actor"], features),
            "critic": critic,
            "target_critic": jax.tree.map(jnp.copy, critic),
            "log_alpha": jnp.asarray(jnp.log(self.config.init_temperature), jnp.float32),
            "obs_stats": stats,
        }
        if self.trains_encoder:
            images = jnp.zeros((1, *self.encoder.frame_shape), jnp.uint8)
            params["encoder"] = self.image_encoder.init(keys["encoder"], images)
        if self.config.actor_average_tau is not None:
            params["actor_average"] = jax.tree.map(jnp.copy, params["actor"])
        return params

    def init_critic(self, key: jax.Array, obs_dim: int) -> Any:
        """Fresh params of one critic ensemble (heads only; the encoder lives apart)."""
        features = jnp.zeros((1, self.feature_size(obs_dim)), jnp.float32)
        return self.critic.init(key, features, jnp.zeros((1, self.action_dim), jnp.float32))

    def init_opt_state(self, params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        return {name: self.tx[name].init(params[name]) for name in names}

    def encode(self, params: dict, obs: dict) -> jax.Array:
        """The flat features actor and critics see (module docstring); gradients flow to the
        encoder, so callers other than the critic loss stop them (`actor_features`)."""
        state = params["obs_stats"].normalize(obs["state"].astype(jnp.float32))
        if self.obs_input == "state":
            return state
        parts = [state]
        if self.obs_input in ("features", "features_and_pixels"):
            parts.append(obs["features"].astype(jnp.float32))
        if self.trains_encoder:
            parts.append(self.image_encoder.apply(params["encoder"], obs["images"]))
        return jnp.concatenate(parts, axis=-1)

    def actor_features(self, params: dict, obs: dict) -> jax.Array:
        """`encode` with the gradient stopped: the actor never trains the encoder (DrQ)."""
        return jax.lax.stop_gradient(self.encode(params, obs))

    def augment(self, mb: dict, key: jax.Array) -> dict:
        """A minibatch with obs and next_obs images randomly shifted (only for "pixels")."""
        if not self.trains_encoder or self.encoder.augment_pad == 0:
            return mb
        keys = split_named(key, ("obs", "next_obs"))
        pad = self.encoder.augment_pad
        return {
            **mb,
            "obs": augment_images(mb["obs"], keys["obs"], pad),
            "next_obs": augment_images(mb["next_obs"], keys["next_obs"], pad),
        }

    def sample_from(
        self, actor_params: Any, features: jax.Array, key: jax.Array | None
    ) -> tuple[jax.Array, jax.Array]:
        """(action, log_prob) from encoded features; `key=None` gives the deterministic mode."""
        mean, log_std = self.actor.apply(actor_params, features)
        return tanh_gaussian_sample(mean, log_std, self.action_scale, key)

    def sample(self, params: dict, obs: dict, key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """The actor's (action, log_prob) for an observation; `key=None` gives the mode."""
        return self.sample_from(params["actor"], self.actor_features(params, obs), key)

    def q_values(self, params: dict, name: str, features: jax.Array, action: jax.Array):
        """(num_critics, B) values of the critic heads stored under `name`."""
        return self.critic.apply(params[name], features, action)

    def soft_target(self, params: dict, mb: dict, key: jax.Array) -> jax.Array:
        """r + gamma * discount * (min_i Q'_i(s', a') - alpha * log pi(a'|s')), a' ~ pi(s')."""
        next_features = self.actor_features(params, mb["next_obs"])
        next_action, next_logp = self.sample_from(params["actor"], next_features, key)
        next_q = jnp.min(self.q_values(params, "target_critic", next_features, next_action), axis=0)
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
        self,
        params: dict,
        name: str,
        obs: dict,
        action: jax.Array,
        target: jax.Array,
        features: jax.Array | None = None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """Mean squared error of every ensemble member to the (stopped) target; aux (mean Q,
        the obs features it used: `features` when given, else `encode(params, obs)`)."""
        if features is None:
            features = self.encode(params, obs)
        q = self.q_values(params, name, features, action)
        return jnp.mean((q - jax.lax.stop_gradient(target)) ** 2), (jnp.mean(q), features)

    def regress(
        self,
        params: dict,
        opt_state: dict,
        name: str,
        obs: dict,
        action: jax.Array,
        target: jax.Array,
        features: jax.Array | None = None,
    ) -> tuple[dict, dict, jax.Array, jax.Array, jax.Array]:
        """One gradient step of the critic `name` (and of the shared encoder, for "critic" on
        pixels) towards `target`; returns params, opt_state, loss, mean Q and the stopped obs
        features (what the actor step reads). Given (stopped) `features`, the critic reads them
        and no encoder is trained: DSRL-NA's noise critic reuses the action critic's."""
        trains_encoder = self.trains_encoder and name == "critic" and features is None
        names = (name, "encoder") if trains_encoder else (name,)

        def loss_fn(trained: dict):
            return self.regression_loss(
                {**params, **trained}, name, obs, action, target, features
            )

        trained = {n: params[n] for n in names}
        (loss, (q_mean, features)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trained)
        params, opt_state = dict(params), dict(opt_state)
        for n in names:
            params[n], opt_state[n] = apply_grads(self.tx[n], params[n], opt_state[n], grads[n])
        return params, opt_state, loss, q_mean, jax.lax.stop_gradient(features)

    def actor_loss(
        self, params: dict, features: jax.Array, key: jax.Array, q_fn: QFn
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """E[alpha log pi - q_fn + prior] on (stopped) features; aux (log pi, q)."""
        alpha = jnp.exp(params["log_alpha"])
        action, logp = self.sample_from(params["actor"], features, key)
        q = q_fn(params, features, action)
        prior = 0.5 * self.action_prior_weight * jnp.sum(action**2, axis=-1)
        return jnp.mean(alpha * logp - q + prior), (logp, q)

    def actor_and_temperature_step(
        self, params: dict, opt_state: dict, features: jax.Array, key: jax.Array, q_fn: QFn
    ) -> tuple[dict, dict, dict[str, jax.Array]]:
        """Actor: min E[alpha log pi - q_fn]; temperature: match the target entropy."""

        def loss_fn(actor_params: Any):
            return self.actor_loss({**params, "actor": actor_params}, features, key, q_fn)

        (a_loss, (logp, q)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params["actor"])
        actor, actor_opt = apply_grads(self.tx["actor"], params["actor"], opt_state["actor"], grads)
        entropy = -jnp.mean(logp)

        def temperature_loss(log_alpha: jax.Array) -> jax.Array:
            return log_alpha * jax.lax.stop_gradient(entropy - self.target_entropy)

        t_grads = jax.grad(temperature_loss)(params["log_alpha"])
        log_alpha, t_opt = apply_grads(
            self.tx["log_alpha"], params["log_alpha"], opt_state["log_alpha"], t_grads
        )
        metrics = {
            "actor_loss": a_loss,
            "entropy": entropy,
            "alpha": jnp.exp(params["log_alpha"]),
            "actor_q": jnp.mean(q),
        }
        params = {**params, "actor": actor, "log_alpha": log_alpha}
        if self.config.actor_average_tau is not None:
            params["actor_average"] = polyak(
                params["actor_average"], actor, self.config.actor_average_tau
            )
        opt_state = {**opt_state, "actor": actor_opt, "log_alpha": t_opt}
        return params, opt_state, metrics
