"""rrl agents: diffusion policy, DSRL (SAC in noise space), SAC (RLPD), BC; JAX + Flax + optax.

Main entry points:
    agent_builder(kind) -> AgentBuilder           what a kind is (uses_demos, acts_in), no JAX work
    make_agent(kind, obs_dim, config) -> Agent    pure functions: init, update, select_action
    make_learner(kind, obs_dim, config, ...) -> AgentLearner   replay, jitted update, checkpoints
    pretrain_diffusion(demos, config, key) -> (params, metrics)
    make_obs(proprio, states) -> flat observation;  stack_cameras(images, cameras) -> (..., C, H, W, 3)
    random_shift(images, key, pad): DrQ's image augmentation;  episode_to_transitions(...)

Observations: a state (D,) or {"state": (D,), "images": uint8 (C, H, W, 3)} when
`EncoderConfig.num_cameras` is C > 0 (one CNN shared by the cameras). On cameras, DSRL's actor and
critics read the frozen base encoder's features (stored once per frame), SAC trains one encoder
shared by its critics (DrQ-v2), BC and pretraining train the policy's own; all with random shifts.
"""

from agents.agent import Agent, PolicyStep, make_agent
from agents.augment import random_shift
from agents.builders import AgentBuilder, agent_builder
from agents.checkpoint import load_diffusion, save_diffusion
from agents.config import (
    AGENT_KINDS,
    AgentConfig,
    BCConfig,
    DiffusionConfig,
    DSRLConfig,
    EncoderConfig,
    ReplayConfig,
    SACConfig,
)
from agents.core import Learner, Policy, VariableSource
from agents.diffusion import DiffusionPolicy
from agents.learner import AgentLearner, make_learner
from agents.networks import ObsStats, compute_obs_stats
from agents.observation import make_obs, stack_cameras
from agents.pretrain import pretrain_diffusion
from agents.replay import FrameSpec, ReplayBuffer, Transitions, episode_to_transitions

__all__ = [
    "AGENT_KINDS",
    "Agent",
    "AgentBuilder",
    "AgentConfig",
    "AgentLearner",
    "BCConfig",
    "DSRLConfig",
    "DiffusionConfig",
    "DiffusionPolicy",
    "EncoderConfig",
    "FrameSpec",
    "Learner",
    "ObsStats",
    "Policy",
    "PolicyStep",
    "ReplayBuffer",
    "ReplayConfig",
    "SACConfig",
    "Transitions",
    "VariableSource",
    "agent_builder",
    "compute_obs_stats",
    "episode_to_transitions",
    "load_diffusion",
    "make_agent",
    "make_learner",
    "make_obs",
    "pretrain_diffusion",
    "random_shift",
    "save_diffusion",
    "stack_cameras",
]
