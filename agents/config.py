"""Frozen dataclass configs for the learners: diffusion policy, SAC, DSRL, BC fine-tuning, replay.

Every field has a comment and every value is checked in `__post_init__`, so a bad value fails
when the config is built, not halfway through a run. `AgentConfig.debug()` is a tiny config for
tests. `config_from_dict` rebuilds a config from `dataclasses.asdict` output (checkpoint sidecars).
`AGENT_KINDS` names the agents; `agents.builders` says what each one is.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

__all__ = [
    "ACTOR_LOG_STD_RANGE",
    "AGENT_KINDS",
    "LEGACY_AGENT_KINDS",
    "AgentConfig",
    "BCConfig",
    "DSRLConfig",
    "DiffusionConfig",
    "EncoderConfig",
    "ReplayConfig",
    "SACConfig",
    "check_finite",
    "config_from_dict",
]

AGENT_KINDS = ("dsrl", "dsrl_na", "sac", "bc")  # one builder each in agents/builders.py
# Old name -> name: run directories and checkpoints written before a rename still hold the old one.
LEGACY_AGENT_KINDS = {"dsrl_sac": "dsrl"}
# (low, high) of the actor's log std: its network squashes the log std into this range.
ACTOR_LOG_STD_RANGE = (-5.0, 2.0)


def check_finite(config: Any) -> None:
    """Refuses NaN and +-inf in every float field of the dataclass `config`, tuples included.

    Every config class calls it first in `__post_init__`: checks such as `value < 0` let NaN
    through, and no setting here (rates, times, scales, bounds) has a use for an infinite value.
    """
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        items = value if isinstance(value, tuple) else (value,)
        if any(isinstance(item, float) and not math.isfinite(item) for item in items):
            raise ValueError(
                f"{type(config).__name__}: {field.name} must be a finite number, got {value!r}"
            )


def _positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{owner}: {name} must be positive, got {value!r}")


def _unit_interval(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{owner}: {name} must be in [0, 1], got {value!r}")


def _dims(owner: str, name: str, dims: tuple[int, ...]) -> None:
    if not dims or any(int(d) <= 0 for d in dims):
        raise ValueError(
            f"{owner}: {name} must be a non-empty tuple of positive ints, got {dims!r}"
        )


ENCODER_POOLINGS = ("flatten", "spatial_softmax")
DSRL_IMAGE_ENCODERS = ("frozen", "finetuned", "keypoints", "keypoints_only")  # DSRLConfig.image_encoder


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Observation encoder: the flat state vector, and optionally C camera images through one CNN.

    The CNN's weights are shared by the cameras; their features are concatenated in camera order
    (the order of the env's `cameras`) after the normalised state.
    """

    num_cameras: int = 0  # camera images the policy sees beside the state; 0: the state only
    image_shape: tuple[int, int, int] = (64, 64, 3)  # (H, W, 3) of each camera image
    conv_channels: tuple[int, ...] = (16, 32, 32)  # channels of the conv layers (first: the stem)
    # The first conv layer's kernel and stride: non-overlapping patches, ~5x cheaper to train on a
    # CPU than a 3x3 stride-2 first layer at 64x64; the later layers are 3x3 stride 2.
    patch_size: int = 4
    feature_dim: int = 64  # features per camera after the CNN's projection
    # How the last conv map becomes the projection's input: "flatten" (every cell's channels) or
    # "spatial_softmax" (each channel's expected image position, robomimic's keypoints: where
    # things are, as two coordinates a channel, whatever the scene's layout).
    pooling: str = "flatten"
    # DrQ random shift in training: pad by this many edge pixels, crop back at a random offset.
    augment_pad: int = 4

    def __post_init__(self) -> None:
        check_finite(self)
        if not isinstance(self.num_cameras, int) or self.num_cameras < 0:
            raise ValueError(
                f"EncoderConfig: num_cameras must be an int >= 0 (0: state only), "
                f"got {self.num_cameras!r}"
            )
        if len(self.image_shape) != 3 or self.image_shape[-1] != 3 or min(self.image_shape) <= 0:
            raise ValueError(
                f"EncoderConfig: image_shape must be (H, W, 3), got {self.image_shape!r}"
            )
        _dims("EncoderConfig", "conv_channels", self.conv_channels)
        _positive("EncoderConfig", feature_dim=self.feature_dim)
        if self.pooling not in ENCODER_POOLINGS:
            raise ValueError(
                f"EncoderConfig: pooling must be one of {ENCODER_POOLINGS}, got {self.pooling!r}"
            )
        smaller_side = min(self.image_shape[:2])
        if not isinstance(self.patch_size, int) or not 1 <= self.patch_size <= smaller_side:
            raise ValueError(
                f"EncoderConfig: patch_size must be an int in [1, {smaller_side}] (the smaller "
                f"image side), got {self.patch_size!r}"
            )
        max_pad = min(self.image_shape[:2]) // 2
        if not isinstance(self.augment_pad, int) or not 0 <= self.augment_pad <= max_pad:
            raise ValueError(
                f"EncoderConfig: augment_pad must be an int in [0, {max_pad}] (half the smaller "
                f"image side; 0: no augmentation), got {self.augment_pad!r}"
            )

    @property
    def uses_images(self) -> bool:
        return self.num_cameras > 0

    @property
    def image_feature_size(self) -> int:
        """Size of the concatenated camera features (0 without cameras)."""
        return self.num_cameras * self.feature_dim

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """(C, H, W, 3): one observation's stacked camera images."""
        return (self.num_cameras, *self.image_shape)


def _upgrade_encoder(data: dict[str, Any]) -> dict[str, Any]:
    """Encoder dicts written before cameras were counted: `use_images` meant one camera."""
    data = dict(data)
    if "use_images" in data:
        data.setdefault("num_cameras", int(bool(data.pop("use_images"))))
    return data


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """Diffusion policy over action chunks (epsilon prediction, cosine schedule, DDIM sampling)."""

    chunk_len: int = 4  # H: control steps per decision (actions per chunk)
    action_dim: int = 7  # env action [dx, dy, dz, droll, dpitch, dyaw, gripper] in [-1, 1]
    hidden_dims: tuple[int, ...] = (256, 256)  # MLP widths of the noise predictor
    time_embed_dim: int = 32  # sinusoidal embedding size of the diffusion timestep
    num_train_steps: int = 10  # T: diffusion timesteps used in training
    num_sample_steps: int = 5  # DDIM steps at sampling time (<= num_train_steps)
    learning_rate: float = 3e-4  # Adam learning rate for BC (pretraining and fine-tuning)
    batch_size: int = 256  # BC minibatch size in pretraining
    pretrain_steps: int = 10_000  # steps of `pretrain_diffusion`; DSRL needs a well-fit base policy
    encoder: EncoderConfig = EncoderConfig()  # what the policy is conditioned on

    def __post_init__(self) -> None:
        check_finite(self)
        _positive(
            "DiffusionConfig",
            chunk_len=self.chunk_len,
            action_dim=self.action_dim,
            time_embed_dim=self.time_embed_dim,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            pretrain_steps=self.pretrain_steps,
        )
        _dims("DiffusionConfig", "hidden_dims", self.hidden_dims)
        if self.time_embed_dim % 2:
            raise ValueError(
                f"DiffusionConfig: time_embed_dim must be even, got {self.time_embed_dim}"
            )
        if not 1 <= self.num_sample_steps <= self.num_train_steps:
            raise ValueError(
                "DiffusionConfig: need 1 <= num_sample_steps <= num_train_steps, got "
                f"{self.num_sample_steps} and {self.num_train_steps}"
            )

    @property
    def flat_action_dim(self) -> int:
        """Size of one flattened action chunk (also the size of the DSRL noise)."""
        return self.chunk_len * self.action_dim


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Soft actor-critic, shared by the action-space baseline and both DSRL variants."""

    hidden_dims: tuple[int, ...] = (256, 256)  # MLP widths of actor and critics
    num_critics: int = 2  # critic ensemble size; targets take the min over it (twin critics)
    critic_layer_norm: bool = True  # LayerNorm in critic MLPs (RLPD)
    actor_lr: float = 3e-4  # Adam learning rate of the actor
    critic_lr: float = 3e-4  # Adam learning rate of the critics (and DSRL-NA's noise critic)
    temperature_lr: float = 3e-4  # Adam learning rate of log(alpha)
    init_temperature: float = 0.1  # initial temperature alpha (small: sparse rewards <= 1)
    target_entropy_scale: float = 0.5  # target entropy = -scale * action size
    discount: float = 0.99  # per decision (one decision = one chunk of H control steps)
    tau: float = 0.005  # Polyak rate of the target critics
    batch_size: int = 256  # transitions per critic update
    critic_updates_per_step: int = 1  # critic updates per actor update inside one `update` call
    backup_entropy: bool = False  # subtract alpha * log pi in critic targets (off: sparse)
    # Known (low, high) of the return, or None: clipped targets cannot feed on overestimates.
    target_range: tuple[float, float] | None = None
    # "td": bootstrapped; "mc": gamma ** steps_to_end * episode return, which cannot self-inflate.
    critic_target: str = "td"
    # The actor's log std at init, or None: the default init (log std about -1.5, std 0.2). A
    # value (DSRL's 0: std 1) also starts the mean near 0, as the DSRL code's actor heads do.
    init_log_std: float | None = None
    # Polyak rate of an average of the actor that acts and is evaluated in its place, or None: the
    # actor acts itself. The average keeps a run's final policy from landing on one update's swing.
    actor_average_tau: float | None = None

    def __post_init__(self) -> None:
        check_finite(self)
        _dims("SACConfig", "hidden_dims", self.hidden_dims)
        if self.actor_average_tau is not None and not 0.0 < self.actor_average_tau <= 1.0:
            raise ValueError(
                f"SACConfig: actor_average_tau must be None (no average) or in (0, 1], "
                f"got {self.actor_average_tau!r}"
            )
        if self.target_range is not None and not (
            len(self.target_range) == 2 and self.target_range[0] < self.target_range[1]
        ):
            raise ValueError(
                f"SACConfig: target_range must be (low, high) with low < high, got {self.target_range!r}"
            )
        low, high = ACTOR_LOG_STD_RANGE
        if self.init_log_std is not None and not low < self.init_log_std < high:
            raise ValueError(
                f"SACConfig: init_log_std must be None (the default init) or in ({low}, {high}), "
                f"the actor's log std range; got {self.init_log_std!r}"
            )
        if self.critic_target not in ("td", "mc"):
            raise ValueError(
                f"SACConfig: critic_target must be 'td' or 'mc', got {self.critic_target!r}"
            )
        _positive(
            "SACConfig",
            actor_lr=self.actor_lr,
            critic_lr=self.critic_lr,
            temperature_lr=self.temperature_lr,
            init_temperature=self.init_temperature,
            batch_size=self.batch_size,
            critic_updates_per_step=self.critic_updates_per_step,
        )
        if self.num_critics < 2:
            raise ValueError(f"SACConfig: num_critics must be >= 2, got {self.num_critics}")
        if self.target_entropy_scale < 0:
            raise ValueError(
                f"SACConfig: target_entropy_scale must be >= 0, got {self.target_entropy_scale}"
            )
        _unit_interval("SACConfig", discount=self.discount, tau=self.tau)


@dataclasses.dataclass(frozen=True)
class DSRLConfig:
    """DSRL: SAC in the (bounded) initial-noise space of a frozen diffusion policy."""

    noise_scale: float = 1.5  # the noise actor outputs tanh(u) * noise_scale per dimension
    distill_noise_std: float = 1.0  # DSRL-NA: std of the noise Q^W is distilled on
    # Actor loss + weight * |w|^2 / 2: where the critic has no gradient, w stays at the mode, 0.
    noise_prior_weight: float = 0.0
    # Until the learner's first update, which waits for this many episodes, env actors play the
    # base policy: w ~ N(0, I) clipped into the noise box, not the noise actor. 0: no warm-up.
    warmup_episodes: int = 0
    # On cameras, what actor and critics read beside the state (agents/dsrl.py): "frozen", the
    # base policy's encoder features, stored once per frame; "finetuned", a copy of that encoder
    # trained by the critic loss on randomly shifted stored frames (DrQ-v2); or "keypoints", the
    # frozen features and `keypoints` learned colour keypoints a camera (`keypoint_encoder`),
    # for tasks whose deciding detail the base encoder blurs (which cloth is red; RESULTS.md);
    # or "keypoints_only", those keypoints without the frozen features.
    image_encoder: str = "frozen"
    keypoints: int = 8

    def __post_init__(self) -> None:
        check_finite(self)
        _positive(
            "DSRLConfig", noise_scale=self.noise_scale, distill_noise_std=self.distill_noise_std
        )
        _positive("DSRLConfig", keypoints=self.keypoints)
        if self.image_encoder not in DSRL_IMAGE_ENCODERS:
            raise ValueError(
                f"DSRLConfig: image_encoder must be one of {DSRL_IMAGE_ENCODERS}, "
                f"got {self.image_encoder!r}"
            )
        if not isinstance(self.warmup_episodes, int) or self.warmup_episodes < 0:
            raise ValueError(
                f"DSRLConfig: warmup_episodes must be an int >= 0 (0: no warm-up), "
                f"got {self.warmup_episodes!r}"
            )
        if self.noise_prior_weight < 0:
            raise ValueError(
                f"DSRLConfig: noise_prior_weight must be >= 0, got {self.noise_prior_weight}"
            )

    def keypoint_encoder(self, base: EncoderConfig) -> EncoderConfig:
        """The "keypoints" encoder for the cameras `base` sees: one linear filter on the pixels of
        each patch (the base's patch size), each of its `keypoints` channels pooled to where it
        peaks (spatial softmax). It can tell where a colour is and little else, so 300 episodes'
        rewards cannot teach it to recognise individual frames, as they teach a deep CNN
        (RESULTS.md). Per-pixel (1x1) filters were far slower on a CPU."""
        return dataclasses.replace(
            base,
            conv_channels=(self.keypoints,),
            pooling="spatial_softmax",
            feature_dim=2 * self.keypoints,
        )


@dataclasses.dataclass(frozen=True)
class BCConfig:
    """Reward-weighted or reward-filtered BC fine-tuning of the diffusion policy."""

    mode: str = "filtered"  # "filtered": keep episodes with return >= threshold; "weighted": exp
    return_threshold: float = 0.5  # "filtered": minimum episode return that is imitated
    temperature: float = 0.25  # "weighted": weight = exp((return - batch max) / temperature)
    batch_size: int = 256  # transitions per BC update

    def __post_init__(self) -> None:
        check_finite(self)
        if self.mode not in ("filtered", "weighted"):
            raise ValueError(f"BCConfig: mode must be 'filtered' or 'weighted', got {self.mode!r}")
        _positive("BCConfig", temperature=self.temperature, batch_size=self.batch_size)


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
    """Host-side replay buffers (online data and demonstrations) and how episodes become data."""

    capacity: int = 200_000  # online transitions kept (whole episodes are evicted FIFO)
    # Steps of camera data kept when the encoder uses images: C frames each (SAC, BC), or the
    # frozen encoder's C * feature_dim features (DSRL); see agents/replay.py for bytes per step.
    frame_capacity: int = 50_000
    demo_capacity: int = 100_000  # demonstration transitions kept
    demo_ratio: float = 0.5  # share of each batch drawn from demos (RLPD: 0.5); action agents only
    demo_reward: float = 1.0  # terminal reward given to demonstrations (they succeed)
    min_transitions: int = 64  # online transitions before `updates_owed()` asks for updates
    utd_ratio: float = 1.0  # `update` calls owed per online transition added
    # Bootstrap at time limits; off: the reward judges the whole episode (see agents/replay.py).
    bootstrap_time_limit: bool = False

    def __post_init__(self) -> None:
        check_finite(self)
        _positive(
            "ReplayConfig",
            capacity=self.capacity,
            frame_capacity=self.frame_capacity,
            demo_capacity=self.demo_capacity,
            min_transitions=self.min_transitions,
        )
        _unit_interval("ReplayConfig", demo_ratio=self.demo_ratio)
        if self.utd_ratio < 0:
            raise ValueError(f"ReplayConfig: utd_ratio must be >= 0, got {self.utd_ratio}")


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Everything one learner needs; `make_agent(kind, obs_dim, config)` reads the relevant parts."""

    diffusion: DiffusionConfig = DiffusionConfig()  # base policy (DSRL, BC) and chunk shape (all)
    sac: SACConfig = SACConfig()  # actor-critic settings (dsrl, dsrl_na, sac)
    dsrl: DSRLConfig = DSRLConfig()  # noise space (dsrl, dsrl_na)
    bc: BCConfig = BCConfig()  # fine-tuning weights (bc)
    replay: ReplayConfig = ReplayConfig()  # buffers and update-to-data ratio (all)
    seed: int = 0  # seed of the learner's network init and update keys

    def __post_init__(self) -> None:
        check_finite(self)
        for name, cls in (
            ("diffusion", DiffusionConfig),
            ("sac", SACConfig),
            ("dsrl", DSRLConfig),
            ("bc", BCConfig),
            ("replay", ReplayConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"AgentConfig: {name} must be a {cls.__name__}")

    @classmethod
    def debug(cls, **overrides: Any) -> AgentConfig:
        """A tiny config for tests: small networks, few diffusion steps, small batches."""
        config = cls(
            diffusion=DiffusionConfig(
                hidden_dims=(32, 32),
                time_embed_dim=8,
                num_train_steps=5,
                num_sample_steps=3,
                batch_size=32,
                pretrain_steps=200,
                encoder=EncoderConfig(image_shape=(16, 16, 3), conv_channels=(4, 8), feature_dim=8),
            ),
            sac=SACConfig(hidden_dims=(32, 32), batch_size=32),
            bc=BCConfig(batch_size=32),
            replay=ReplayConfig(
                capacity=2_000, frame_capacity=2_000, demo_capacity=2_000, min_transitions=8
            ),
        )
        return dataclasses.replace(config, **overrides)


def _unchanged(data: dict[str, Any]) -> dict[str, Any]:
    return data


# Config class -> translation of its older dicts (run directories and checkpoints outlive renames).
_UPGRADES = {EncoderConfig: _upgrade_encoder}


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuilds a (nested) config dataclass from `dataclasses.asdict` output; unknown keys fail.

    Fields renamed since a run directory or checkpoint was written are translated first.
    """
    data = _UPGRADES.get(cls, _unchanged)(data)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; valid keys are {sorted(fields)}")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple or hint is tuple:
            value = tuple(value)
        elif isinstance(hint, types.UnionType) and isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)
