"""`oracle`, `noisy_oracle` and `random`: the simulator's ground truth, exact or with a reward
model's error, and a score that carries no information.

`oracle` returns the episode's `oracle_score` (the sim's rubric score of the final state), the
stand-in for a careful human labeller in sim.

`noisy_oracle` answers "how much reward-model error can this RL setup tolerate?": it replaces the
true score s by s' drawn from P(s' | s) proportional to exp(-|s' - s| / tau_s) over s' in 1..5,
with tau_s solved per true score so that E|s' - s| equals the target MAE whatever the mix of
true scores (0.665 is RoboReward-8B's RoboRewardBench MAE, 0.906 Gemini Robotics-ER 1.5's). The
noise is ordinal (near misses are likelier than far ones) and never leaves 1..5. Each episode's
draw is seeded by (seed, episode_id), so re-scoring or resuming gives the same noisy score. Its
results say "noisy_oracle" and a simulated model name, so reports cannot pass it off as a model.

`random` is the no-information control: a score drawn uniformly from 1..5 whatever the episode
shows (it needs no oracle score, so it runs on real episodes too). What RL learns from it is what
the loop learns from a reward that says nothing. Its draw is seeded by (seed, episode_id) like
`noisy_oracle`'s, and its results say "random" and a `simulated:` model name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from typing import Any

import numpy as np

from envs.episode import Episode
from reward_clients.base import RewardClient, RewardMapping, RewardResult
from reward_clients.prompt import MAX_SCORE, MIN_SCORE

__all__ = [
    "OracleConfig", "OracleClient", "NoisyOracleConfig", "NoisyOracleClient", "RandomConfig", "RandomClient",
    "noise_table", "MAX_TARGET_MAE",
]

_SCORES = np.arange(MIN_SCORE, MAX_SCORE + 1)
# The largest MAE reachable for every true score: a uniform guess around the middle score 3
# (errors 2, 1, 0, 1, 2). Above it the edge scores could still get there, the middle one not.
MAX_TARGET_MAE = float(np.mean(np.abs(_SCORES - 3)))


def _check_seed(owner: str, seed: Any) -> None:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{owner}: seed must be an int >= 0, got {seed!r}")


@dataclasses.dataclass(frozen=True)
class OracleConfig:
    """Settings of the `oracle` client."""

    # Score-to-reward mapping: "progress", "success", {score: reward} or five rewards.
    mapping: Any = "progress"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mapping", RewardMapping.parse(self.mapping))


@dataclasses.dataclass(frozen=True)
class NoisyOracleConfig:
    """Settings of the `noisy_oracle` client."""

    # Mean absolute error of the noisy score against the oracle, in [0, 1.2).
    target_mae: float = 0.665
    # Seed of the noise; with the episode id it fixes each episode's draw.
    seed: int = 0
    # Score-to-reward mapping: "progress", "success", {score: reward} or five rewards.
    mapping: Any = "progress"

    def __post_init__(self) -> None:
        if not isinstance(self.target_mae, int | float) or not 0 <= self.target_mae < MAX_TARGET_MAE:
            raise ValueError(
                f"NoisyOracleConfig: target_mae must be in [0, {MAX_TARGET_MAE:g}) (a uniform guess gives "
                f"{MAX_TARGET_MAE:g} on a middle score), got {self.target_mae!r}"
            )
        _check_seed("NoisyOracleConfig", self.seed)
        object.__setattr__(self, "mapping", RewardMapping.parse(self.mapping))


class OracleClient(RewardClient):
    """Returns the sim's rubric score of the episode's final state."""

    source = "oracle"

    def __init__(self, config: OracleConfig | None = None) -> None:
        self.config = config or OracleConfig()
        super().__init__(self.config.mapping)

    @property
    def model(self) -> str:
        return "sim-oracle"

    def true_score(self, episode: Episode) -> int | None:
        return episode.oracle_score

    def score(self, episode: Episode) -> RewardResult:
        start = time.monotonic()
        truth = self.true_score(episode)
        if truth is None:
            return self.result(
                episode,
                None,
                attempts=1,
                latency_s=time.monotonic() - start,
                error=f"{self.source}: episode {episode.episode_id} has no oracle_score (only sim episodes have one)",
            )
        score = self.draw(episode, truth)
        return self.result(episode, score, raw_text=str(score), attempts=1, latency_s=time.monotonic() - start)

    def draw(self, episode: Episode, truth: int) -> int:
        return truth


def _expected_error(truth: int, tau: float) -> tuple[float, np.ndarray]:
    distance = np.abs(_SCORES - truth).astype(float)
    logits = -distance / tau
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return float(probs @ distance), probs


def noise_table(target_mae: float) -> np.ndarray:
    """(5, 5) array: row s-1 is P(s' | s) with expected |s' - s| == target_mae (bisection on tau)."""
    table = np.zeros((MAX_SCORE, MAX_SCORE))
    for truth in _SCORES:
        if target_mae == 0:
            table[truth - 1, truth - 1] = 1.0
            continue
        lo, hi = math.log(1e-4), math.log(1e4)
        # E|s' - s| grows monotonically with tau; 100 halvings of the log range is exact enough.
        for _ in range(100):
            mid = (lo + hi) / 2
            error, _ = _expected_error(truth, math.exp(mid))
            lo, hi = (mid, hi) if error < target_mae else (lo, mid)
        table[truth - 1] = _expected_error(truth, math.exp((lo + hi) / 2))[1]
    return table


class NoisyOracleClient(OracleClient):
    """The oracle's score with seeded ordinal noise of a chosen mean absolute error."""

    source = "noisy_oracle"

    def __init__(self, config: NoisyOracleConfig | None = None) -> None:
        self.noisy_config = config or NoisyOracleConfig()
        super().__init__(OracleConfig(mapping=self.noisy_config.mapping))
        self.table = noise_table(self.noisy_config.target_mae)

    @property
    def model(self) -> str:
        return f"simulated:sim-oracle+ordinal-noise(mae={self.noisy_config.target_mae:g},seed={self.noisy_config.seed})"

    def draw(self, episode: Episode, truth: int) -> int:
        return int(_episode_rng(self.noisy_config.seed, episode).choice(_SCORES, p=self.table[truth - 1]))


def _episode_rng(seed: int, episode: Episode) -> np.random.Generator:
    """The generator of one episode's draw. Keyed by the episode id, not by call order: concurrent,
    repeated or resumed scoring agree."""
    digest = int.from_bytes(hashlib.sha256(episode.episode_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, digest])


@dataclasses.dataclass(frozen=True)
class RandomConfig:
    """Settings of the `random` client."""

    # Seed of the draws; with the episode id it fixes each episode's score.
    seed: int = 0
    # Score-to-reward mapping: "progress", "success", {score: reward} or five rewards.
    mapping: Any = "progress"

    def __post_init__(self) -> None:
        _check_seed("RandomConfig", self.seed)
        object.__setattr__(self, "mapping", RewardMapping.parse(self.mapping))


class RandomClient(RewardClient):
    """A uniform score 1..5 per episode, seeded: the reward that carries no information."""

    source = "random"

    def __init__(self, config: RandomConfig | None = None) -> None:
        self.config = config or RandomConfig()
        super().__init__(self.config.mapping)

    @property
    def model(self) -> str:
        return f"simulated:uniform-random(seed={self.config.seed})"

    def score(self, episode: Episode) -> RewardResult:
        start = time.monotonic()
        score = int(_episode_rng(self.config.seed, episode).integers(MIN_SCORE, MAX_SCORE + 1))
        return self.result(episode, score, raw_text=str(score), attempts=1, latency_s=time.monotonic() - start)
