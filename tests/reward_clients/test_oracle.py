"""`oracle`, `noisy_oracle` and `random`: ground truth, seeded ordinal noise of a chosen MAE, and a
seeded uniform score that says nothing."""

from __future__ import annotations

import numpy as np
import pytest

import configs
import reward_clients
from configs.describe import describe_config
from configs.overrides import apply_overrides
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


def test_random_scores_are_uniform_over_1_to_5():
    episodes = sim_episodes(5000, seed=2)
    scores = np.array([r.score for r in reward_clients.make("random", seed=5).score_many(episodes, max_concurrency=4)])
    counts = np.array([np.sum(scores == s) for s in range(1, 6)])
    assert counts.sum() == len(episodes)  # nothing outside 1..5
    # Pearson's chi-square against uniform, 4 degrees of freedom: 18.47 is its 0.1 % tail. A client
    # that never says 5, or says 3 a fifth too often, lands far above it; the seeds are fixed.
    expected = len(episodes) / 5
    assert np.sum((counts - expected) ** 2 / expected) < 18.47


def test_random_is_seeded_per_episode():
    episodes = sim_episodes(200)
    client = reward_clients.make("random", seed=3)
    first = [client.score(e).score for e in episodes]
    # Another call order, concurrency and client instance (a re-score or a resumed run) agree.
    again = reward_clients.make("random", seed=3).score_many(episodes[::-1], max_concurrency=4)
    assert [r.score for r in again][::-1] == first
    other_seed = [reward_clients.make("random", seed=4).score(e).score for e in episodes]
    assert np.mean(np.array(other_seed) == np.array(first)) < 0.4  # about 1 in 5 agree by chance


def test_random_ignores_what_the_episode_shows():
    client = reward_clients.make("random", seed=1)
    for i in range(50):
        variants = [
            episode_with_ramp(episode_id=f"ep-{i}", oracle_score=truth, num_frames=frames, task=task)
            for truth, frames, task in [(1, 2, "open the drawer"), (5, 7, "put the toy on the cloth"), (None, 3, "x")]
        ]
        # The same score whatever the oracle says, the frames show or the task asks; a real
        # episode (no oracle score) is scored too.
        assert len({client.score(v).score for v in variants}) == 1
    # Over many episodes the score tells nothing about the oracle's.
    episodes = sim_episodes(3000, seed=4)
    scores = np.array([client.score(e).score for e in episodes])
    truth = np.array([e.oracle_score for e in episodes])
    assert abs(np.corrcoef(scores, truth)[0, 1]) < 0.06


def test_random_is_labelled_simulated():
    result = reward_clients.make("random", seed=9, mapping="success").score(sim_episodes(1)[0])
    assert result.source == "random" and result.model.startswith("simulated:") and "seed=9" in result.model
    assert result.reward == (1.0 if result.score == 5 else 0.0)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_random_refuses_a_bad_seed(seed):
    with pytest.raises(RewardConfigError, match="seed"):
        reward_clients.make("random", seed=seed)


def test_random_is_chosen_and_seeded_from_the_command_line():
    config = apply_overrides(configs.get_config("debug"), ["reward.seed=3", "reward.name=random"])
    assert config.reward.name == "random" and config.reward.settings == {"seed": 3}
    assert "reward.seed=3" in describe_config(config)
    client = reward_clients.make(config.reward.name, **config.reward.settings)
    assert client.model == "simulated:uniform-random(seed=3)"
    with pytest.raises(ValueError, match="target_mae"):
        apply_overrides(configs.get_config("debug"), ["reward.name=random", "reward.target_mae=0.5"])
