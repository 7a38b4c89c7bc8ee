"""Shared fixtures for the reward client tests: small synthetic episodes and fast retry settings."""

from __future__ import annotations

import pytest

from envs.episode import Episode
from tests.reward_clients.helpers import FAST, episode_with_ramp


@pytest.fixture
def episode() -> Episode:
    return episode_with_ramp()


@pytest.fixture
def fast() -> dict[str, float]:
    return dict(FAST)
