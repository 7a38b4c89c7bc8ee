"""`oracle` and `noisy_oracle`: ground truth, and seeded ordinal noise of a chosen MAE."""

from __future__ import annotations

import numpy as np
import pytest

import reward_clients
from reward_clients import RewardConfigError
from reward_clients.oracle import MAX_TARGET_MAE, noise_table
from tests.reward_clients.helpers import episode_with_ramp


def sim_episodes(count: int, seed: int = 0):
    scores = np.random.default_rng(seed).integers(1, 6, size=count)
    return [
        episode_with_ramp(episode_id=f"sim-{i}", num_frames=1, height=16, width=16, oracle_score=int(s))
        for i, s in enumerate(scores)
    ]


def test_oracle_returns_the_sim_score():
    client = reward_clients.make("oracle", mapping="success")
    results = client.score_many(sim_episodes(20), max_concurrency=4)
    for result, episode in zip(results, sim_episodes(20), strict=True):
        assert (result.score, result.source, result.model) == (episode.oracle_score, "oracle", "sim-oracle")
        assert result.reward == (1.0 if episode.oracle_score == 5 else 0.0)


def test_oracle_without_a_score_is_a_failure_not_a_number():
    result = reward_clients.make("oracle").score(episode_with_ramp(oracle_score=None))
    assert result.score is None and "no oracle_score" in result.error


@pytest.mark.parametrize("target", [0.665, 0.906, 0.3])
def test_noisy_oracle_reaches_its_target_mae(target):
    episodes = sim_episodes(2000, seed=1)
    client = reward_clients.make("noisy_oracle", target_mae=target, seed=7)
    scores = np.array([client.score(e).score for e in episodes])
    truth = np.array([e.oracle_score for e in episodes])
    assert abs(np.mean(np.abs(scores - truth)) - target) < 0.05
    assert set(scores) <= {1, 2, 3, 4, 5}
    # Ordinal: near misses are more common than far ones.
    errors = np.abs(scores - truth)
    assert np.sum(errors == 1) > np.sum(errors == 2) > np.sum(errors >= 3)


def test_noise_table_is_exact_per_true_score():
    table = noise_table(0.665)
    distance = np.abs(np.arange(1, 6)[None, :] - np.arange(1, 6)[:, None])
    np.testing.assert_allclose((table * distance).sum(axis=1), 0.665, atol=1e-9)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    np.testing.assert_array_equal(noise_table(0.0), np.eye(5))


def test_noisy_oracle_is_seeded_per_episode():
    episodes = sim_episodes(200)
    first = reward_clients.make("noisy_oracle", seed=3)
    again = [r.score for r in first.score_many(episodes[::-1], max_concurrency=4)][::-1]
    assert [first.score(e).score for e in episodes] == again
    other_seed = reward_clients.make("noisy_oracle", seed=4)
    assert [other_seed.score(e).score for e in episodes] != again


def test_noisy_oracle_is_labelled_simulated():
    result = reward_clients.make("noisy_oracle", target_mae=0.906).score(sim_episodes(1)[0])
    assert result.source == "noisy_oracle" and result.model.startswith("simulated:")
    assert "0.906" in result.model


@pytest.mark.parametrize("target", [-0.1, MAX_TARGET_MAE, 2.0, "0.5"])
def test_unreachable_targets_are_refused(target):
    with pytest.raises(RewardConfigError, match="target_mae"):
        reward_clients.make("noisy_oracle", target_mae=target)
