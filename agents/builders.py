"""One builder per agent kind (dm-acme's builders): what each kind is made of, looked up by name.

Asking a builder costs no JAX work, so the run loop can ask before any network exists:

    builder = agent_builder(config.agent_kind)
    builder.uses_demos  # True for "sac": the loop hands demonstrations to the learner (RLPD)
    builder.acts_in     # "noise" or "action": what the replay buffer stores as the agent's action
    builder.frame_spec(config.agent)  # camera data the replay keeps per step: images, features, None
    builder.warmup_episodes(config.agent)  # episodes before the first update (base policy acts)
    agent = make_agent(config.agent_kind, obs_dim, config.agent)  # agents.agent: the pieces built

Kinds: "dsrl" (SAC in the diffusion policy's noise space, the paper's method), "dsrl_na" (DSRL
with noise aliasing: critics on executed actions), "sac" (SAC on action chunks, RLPD demo mixing),
"bc" (reward-filtered or reward-weighted fine-tuning of the diffusion policy, `config.bc.mode`).

On cameras (`EncoderConfig.num_cameras > 0`): DSRL's actor and critics read the frozen base
policy's image features, stored in the replay buffer in place of the frames (they never change),
or with `dsrl.image_encoder` an encoder of their own trained on stored frames (a fine-tuned
copy of the base's, or colour keypoints beside the frozen features);
SAC trains one CNN shared by its critic ensemble on stored frames (DrQ-v2); BC fine-tunes the
diffusion policy's own encoder on stored frames. See agents/actor_critic.py and agents/dsrl.py.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from agents.actor_critic import ENCODER_OBS_INPUTS, ActorCritic
from agents.bc import make_bc_loss, make_bc_update
from agents.config import AGENT_KINDS, LEGACY_AGENT_KINDS, AgentConfig, EncoderConfig
from agents.diffusion import DiffusionPolicy
from agents.dsrl import make_dsrl_na_critic_loss, make_dsrl_na_update, with_base_features
from agents.networks import ObsStats, split_named
from agents.replay import FrameSpec
from agents.sac import make_sac_critic_loss, make_sac_update
from agents.state import AgentState

if TYPE_CHECKING:
    from agents.agent import Agent

__all__ = [
    "ActorCriticBuilder",
    "AgentBuilder",
    "BCBuilder",
    "BUILDERS",
    "DSRLBuilder",
    "DSRLNABuilder",
    "SACBuilder",
    "agent_builder",
]

UpdateFn = Callable[[AgentState, dict, jax.Array], tuple[AgentState, dict]]
LossFn = Callable[[AgentState, dict, jax.Array], jax.Array]


class AgentBuilder(abc.ABC):
    """What one agent kind is made of; an `Agent` calls these hooks instead of testing its kind."""

    kind: ClassVar[str]
    acts_in: ClassVar[str]  # what the replay buffer stores: "noise" (DSRL's) or "action" chunks
    uses_demos: ClassVar[bool] = False  # the loop hands demonstrations to the learner (RLPD)
    needs_diffusion: ClassVar[bool] = True  # `init` needs the pretrained diffusion params
    has_actor: ClassVar[bool] = True  # False: the diffusion policy itself acts, sampling its noise
    base_policy_param_names: ClassVar[tuple[str, ...]]  # the params an actor needs to act

    def policy_param_names(self, config: AgentConfig) -> tuple[str, ...]:
        """The params an actor needs to act with `config`."""
        return self.base_policy_param_names

    def frame_spec(self, config: AgentConfig) -> FrameSpec | None:
        """What the replay buffer keeps per decision step beside the state: the camera frames
        (uint8), or None without cameras."""
        encoder = config.diffusion.encoder
        return FrameSpec("images", encoder.frame_shape, "uint8") if encoder.uses_images else None

    def warmup_episodes(self, config: AgentConfig) -> int:
        """Episodes the learner waits for before its first update, played by `choose_warmup`
        (0: no warm-up; only the DSRL kinds have one)."""
        return 0

    def choose_warmup(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array
    ) -> tuple[jax.Array, jax.Array | None]:
        """Like `choose`, for the warm-up episodes before the first update."""
        raise ValueError(
            f"agent kind {self.kind!r} has no warm-up (dsrl.warmup_episodes is DSRL's)"
        )

    @abc.abstractmethod
    def batch_shape(self, config: AgentConfig) -> tuple[int, int]:
        """(n, B): minibatches per `update` call and their size."""

    @abc.abstractmethod
    def make_actor_critic(self, config: AgentConfig) -> ActorCritic | None:
        """The actor and critics, or None for a kind that has none."""

    @abc.abstractmethod
    def make_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        """The pure `update(state, batch, key)` and its diagnostic loss (critic TD or BC)."""

    @abc.abstractmethod
    def init_state(
        self, agent: Agent, key: jax.Array, diffusion_params: dict | None, stats: ObsStats
    ) -> AgentState:
        """Fresh params and optimiser states; `diffusion_params` is None only without diffusion."""

    @abc.abstractmethod
    def choose(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array | None
    ) -> tuple[jax.Array, jax.Array | None]:
        """Flat (B, H * 7) actions and the noise behind them (or None); `key=None`: the mode."""


class ActorCriticBuilder(AgentBuilder):
    """The kinds whose actor SAC trains: on action chunks ("sac") or on the noise (DSRL)."""

    @abc.abstractmethod
    def action_bound(self, config: AgentConfig) -> tuple[float, float]:
        """(scale, prior weight): the actor acts in [-scale, scale], pulled to 0 by the prior."""

    @abc.abstractmethod
    def obs_input(self, config: AgentConfig) -> str:
        """What actor and critics read: one of `agents.actor_critic.OBS_INPUTS`."""

    def actor_critic_encoder(self, config: AgentConfig) -> EncoderConfig:
        """The config of the CNN actor and critics train, or of the features they read."""
        return config.diffusion.encoder

    def policy_param_names(self, config: AgentConfig) -> tuple[str, ...]:
        trained = self.obs_input(config) in ENCODER_OBS_INPUTS  # the actor reads that CNN too
        return (*self.base_policy_param_names, *(("encoder",) if trained else ()))

    def batch_shape(self, config: AgentConfig) -> tuple[int, int]:
        return (config.sac.critic_updates_per_step, config.sac.batch_size)

    def make_actor_critic(self, config: AgentConfig) -> ActorCritic:
        scale, prior = self.action_bound(config)
        return ActorCritic(
            config.sac,
            self.actor_critic_encoder(config),
            config.diffusion.flat_action_dim,
            action_scale=scale,
            action_prior_weight=prior,
            obs_input=self.obs_input(config),
            frozen_features=config.diffusion.encoder.image_feature_size,
        )

    def make_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        return make_sac_update(actor_critic), make_sac_critic_loss(actor_critic)

    def extra_params(self, agent: Agent, key: jax.Array, stats: ObsStats) -> dict[str, Any]:
        """Trained params beyond actor, critic and temperature (DSRL-NA's noise critic)."""
        return {}

    def init_state(
        self, agent: Agent, key: jax.Array, diffusion_params: dict | None, stats: ObsStats
    ) -> AgentState:
        keys = split_named(key, ("sac", "noise_critic"))
        params = agent.actor_critic.init_params(keys["sac"], agent.obs_dim, stats)
        if self.needs_diffusion:
            params["diffusion"] = diffusion_params
        extra = self.extra_params(agent, keys["noise_critic"], stats)
        params.update(extra)
        names = (*agent.actor_critic.trained_names, *extra)
        opt_state = agent.actor_critic.init_opt_state(params, names)
        return AgentState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


class SACBuilder(ActorCriticBuilder):
    """SAC on action chunks in [-1, 1], with demonstrations mixed into every batch (RLPD)."""

    kind = "sac"
    acts_in = "action"
    uses_demos = True
    needs_diffusion = False
    base_policy_param_names = ("actor", "obs_stats")

    def action_bound(self, config: AgentConfig) -> tuple[float, float]:
        return 1.0, 0.0

    def obs_input(self, config: AgentConfig) -> str:
        return "pixels" if config.diffusion.encoder.uses_images else "state"

    def choose(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array | None
    ) -> tuple[jax.Array, jax.Array | None]:
        actions, _ = agent.actor_critic.sample(params, obs, key)
        return actions, None


class DSRLBuilder(ActorCriticBuilder):
    """SAC on the frozen diffusion policy's initial noise, held near 0 by a prior (the paper's)."""

    kind = "dsrl"
    acts_in = "noise"  # demonstrations carry no noise, so none are mixed in
    base_policy_param_names = ("actor", "obs_stats", "diffusion")

    def action_bound(self, config: AgentConfig) -> tuple[float, float]:
        return config.dsrl.noise_scale, config.dsrl.noise_prior_weight

    def obs_input(self, config: AgentConfig) -> str:
        if not config.diffusion.encoder.uses_images:
            return "state"
        return {"frozen": "features", "finetuned": "pixels", "keypoints": "features_and_pixels",
                "keypoints_only": "pixels"}[config.dsrl.image_encoder]

    def actor_critic_encoder(self, config: AgentConfig) -> EncoderConfig:
        trains_own = self.obs_input(config) in ENCODER_OBS_INPUTS
        if trains_own and not self._starts_from_base_encoder(config):  # the keypoint encoders
            return config.dsrl.keypoint_encoder(config.diffusion.encoder)
        return config.diffusion.encoder

    def _starts_from_base_encoder(self, config: AgentConfig) -> bool:
        """Actor and critics train a copy of the base encoder ("finetuned"); the keypoint
        encoders start fresh."""
        return self.obs_input(config) == "pixels" and config.dsrl.image_encoder == "finetuned"

    def make_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        update, loss = self.make_noise_update(policy, actor_critic, config)
        return with_base_features(policy, update), with_base_features(policy, loss)

    def make_noise_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        """The update before the frozen base features join its batches (`with_base_features`)."""
        return super().make_update(policy, actor_critic, config)

    def frame_spec(self, config: AgentConfig) -> FrameSpec | None:
        """The frozen base encoder's features, computed once per frame (cheaper than pixels); the
        frames themselves when actor and critics train an encoder of their own."""
        encoder = config.diffusion.encoder
        if not encoder.uses_images or self.obs_input(config) in ENCODER_OBS_INPUTS:
            return super().frame_spec(config)
        return FrameSpec("features", (encoder.image_feature_size,), "float32")

    def init_state(
        self, agent: Agent, key: jax.Array, diffusion_params: dict | None, stats: ObsStats
    ) -> AgentState:
        """As every actor-critic's; a fine-tuned encoder starts as a copy of the base's, so the
        critic first sees what the frozen features show (keypoints start fresh)."""
        state = super().init_state(agent, key, diffusion_params, stats)
        if not self._starts_from_base_encoder(agent.config):
            return state
        base_encoder = {"params": diffusion_params["net"]["params"]["encoder"]}
        params = {**state.params, "encoder": jax.tree.map(jnp.copy, base_encoder)}
        return state.replace(params=params)

    def choose(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array | None
    ) -> tuple[jax.Array, jax.Array | None]:
        obs = agent.policy.with_image_features(params["diffusion"], obs)  # the base CNN runs once
        noise, _ = agent.actor_critic.sample(params, obs, key)
        return agent.policy.sample_flat(params["diffusion"], obs, noise), noise

    def warmup_episodes(self, config: AgentConfig) -> int:
        return config.dsrl.warmup_episodes

    def choose_warmup(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array
    ) -> tuple[jax.Array, jax.Array | None]:
        """The base policy: w ~ N(0, I) clipped into the noise box, as the DSRL code's initial
        rollouts do (so every stored noise is one the actor's box holds)."""
        shape = (obs["state"].shape[0], agent.config.diffusion.flat_action_dim)
        scale = agent.config.dsrl.noise_scale
        noise = jnp.clip(jax.random.normal(key, shape), -scale, scale)
        return agent.policy.sample_flat(params["diffusion"], obs, noise), noise


class DSRLNABuilder(DSRLBuilder):
    """DSRL with noise aliasing: critics learn on executed actions, a noise critic distils them."""

    kind = "dsrl_na"
    acts_in = "action"

    def make_noise_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        update = make_dsrl_na_update(actor_critic, policy, config.dsrl.distill_noise_std)
        return update, make_dsrl_na_critic_loss(actor_critic, policy)

    def extra_params(self, agent: Agent, key: jax.Array, stats: ObsStats) -> dict[str, Any]:
        return {"noise_critic": agent.actor_critic.init_critic(key, agent.obs_dim)}


class BCBuilder(AgentBuilder):
    """Reward-filtered or reward-weighted BC fine-tuning of the diffusion policy itself."""

    kind = "bc"
    acts_in = "action"
    has_actor = False
    base_policy_param_names = ("diffusion",)

    def batch_shape(self, config: AgentConfig) -> tuple[int, int]:
        return (1, config.bc.batch_size)

    def optimizer(self, config: AgentConfig) -> optax.GradientTransformation:
        return optax.adam(config.diffusion.learning_rate)

    def make_actor_critic(self, config: AgentConfig) -> None:
        return None

    def make_update(
        self, policy: DiffusionPolicy, actor_critic: ActorCritic | None, config: AgentConfig
    ) -> tuple[UpdateFn, LossFn]:
        update = make_bc_update(policy, self.optimizer(config), config.bc.mode, config.bc)
        return update, make_bc_loss(policy, config.bc.mode, config.bc)

    def init_state(
        self, agent: Agent, key: jax.Array, diffusion_params: dict | None, stats: ObsStats
    ) -> AgentState:
        params = {"diffusion": diffusion_params, "obs_stats": stats}
        opt_state = {"diffusion": self.optimizer(agent.config).init(diffusion_params["net"])}
        return AgentState(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))

    def choose(
        self, agent: Agent, params: dict, obs: dict, key: jax.Array | None
    ) -> tuple[jax.Array, jax.Array | None]:
        shape = (obs["state"].shape[0], agent.config.diffusion.flat_action_dim)
        noise = jnp.zeros(shape) if key is None else jax.random.normal(key, shape)
        return agent.policy.sample_flat(params["diffusion"], obs, noise), noise


BUILDERS: dict[str, AgentBuilder] = {
    builder.kind: builder for builder in (DSRLBuilder(), DSRLNABuilder(), SACBuilder(), BCBuilder())
}
assert tuple(BUILDERS) == AGENT_KINDS, "every kind in agents.config.AGENT_KINDS has one builder"


def agent_builder(kind: str) -> AgentBuilder:
    """The builder of `kind`; an unknown kind gets the allowed ones (and a renamed one its name)."""
    if kind in BUILDERS:
        return BUILDERS[kind]
    new_name = LEGACY_AGENT_KINDS.get(kind)
    renamed = f" ({kind!r} is now called {new_name!r})" if new_name else ""
    raise ValueError(f"agent kind must be one of {list(AGENT_KINDS)}, got {kind!r}{renamed}")
