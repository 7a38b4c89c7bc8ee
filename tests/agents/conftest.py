"""Shared fixtures for the agents tests: a tiny config, synthetic demos, a pretrained policy."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from agents.config import AgentConfig, EncoderConfig
from agents.pretrain import pretrain_diffusion
from tests.agents.helpers import make_demo


@pytest.fixture(scope="session")
def config() -> AgentConfig:
    base = AgentConfig.debug()
    diffusion = dataclasses.replace(
        base.diffusion, hidden_dims=(64, 64), learning_rate=3e-3, batch_size=64, pretrain_steps=600
    )
    return dataclasses.replace(base, diffusion=diffusion)


@pytest.fixture(scope="session")
def demos() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [make_demo(rng) for _ in range(32)]


@pytest.fixture(scope="session")
def pretrained(config, demos):
    """(params, metrics) of BC pretraining on the synthetic demos (shared: it takes seconds)."""
    return pretrain_diffusion(demos, config, jax.random.key(0))


@pytest.fixture(scope="session")
def image_config() -> AgentConfig:
    """Two 16x16 cameras (front, wrist) through a tiny CNN, random shifts of up to 2 pixels."""
    base = AgentConfig.debug()
    encoder = EncoderConfig(
        num_cameras=2, image_shape=(16, 16, 3), conv_channels=(4, 8), feature_dim=8, augment_pad=2
    )
    diffusion = dataclasses.replace(base.diffusion, encoder=encoder)
    return dataclasses.replace(base, diffusion=diffusion)
