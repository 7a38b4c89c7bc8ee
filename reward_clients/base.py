"""The reward client interface: `RewardClient`, its `RewardResult`, and the score-to-reward mapping.

    client = reward_clients.make("roboreward", base_url="http://127.0.0.1:8000/v1")
    with client:
        for result in client.score_many(episodes, max_concurrency=8):
            if result.score is None:
                pending.append(result.episode_id)       # retried later, never given a made-up score
            else:
                learner.add(result.episode_id, result.reward)

A score is the rubric's end-of-episode progress, an int 1-5; the reward is that score mapped to a
float by the client's `RewardMapping`. A result with `score=None` is a failure: its `error` says
why (and holds the model's raw text when the answer could not be parsed).
"""

from __future__ import annotations

import abc
import concurrent.futures
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envs.episode import Episode
from reward_clients.prompt import MAX_SCORE, MIN_SCORE

__all__ = ["RewardResult", "RewardMapping", "RewardClient", "MAPPING_KINDS", "MAX_RAW_TEXT_CHARS", "cut_text"]

MAPPING_KINDS = ("progress", "success", "table")
# Longest raw_text a result keeps (and so rewards.jsonl and the score cache): a few KB.
MAX_RAW_TEXT_CHARS = 4000


def cut_text(text: str, limit: int = MAX_RAW_TEXT_CHARS) -> str:
    """`text` if it fits in `limit` characters, else its head and its tail (where a model's
    answer is) around a marker saying how much was cut; never longer than `limit`."""
    if len(text) <= limit:
        return text
    head = limit // 4
    # The marker is sized for the largest possible count, so the real one only makes it shorter.
    tail = limit - head - len(_cut_marker(len(text)))
    return text[:head] + _cut_marker(len(text) - head - tail) + text[len(text) - tail :]


def _cut_marker(count: int) -> str:
    return f"\n[... {count} characters cut ...]\n"


@dataclasses.dataclass(frozen=True)
class RewardResult:
    """The outcome of scoring one episode."""

    episode_id: str
    # Which client produced it: "roboreward", "gemini_er", "human", "oracle", "noisy_oracle",
    # "random".
    source: str
    # The model id (or a description such as "sim-oracle" for the non-model sources).
    model: str
    # The rubric score 1-5, or None when scoring failed or the operator skipped.
    score: int | None
    # `score` through the client's mapping; None exactly when `score` is None.
    reward: float | None
    # The model's (or operator's) text the score was read from; "" when there was none. Cut to
    # MAX_RAW_TEXT_CHARS (head and tail) so that no reply, however long, fills the run directory.
    raw_text: str = ""
    # Wall time of the whole `score` call, retries and back-off included (in score_many: from the
    # start of the episode's encoding, so waiting for a free request slot counts).
    latency_s: float = 0.0
    # Requests (or prompts) made; 0 for a cache hit.
    attempts: int = 0
    # Why `score` is None; None on success.
    error: str | None = None
    # True when the score came from the disk cache rather than a new request.
    cached: bool = False
    # Service accounting when it reports any (token counts), for cost tracking.
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.score is not None and self.score not in range(MIN_SCORE, MAX_SCORE + 1):
            raise ValueError(f"RewardResult {self.episode_id}: score must be 1-5 or None, got {self.score!r}")
        if (self.score is None) != (self.reward is None):
            raise ValueError(
                f"RewardResult {self.episode_id}: reward must be None exactly when score is None "
                f"(score={self.score!r}, reward={self.reward!r})"
            )
        if self.score is None and not self.error:
            raise ValueError(f"RewardResult {self.episode_id}: a result without a score must say why in error")
        if isinstance(self.raw_text, str):
            object.__setattr__(self, "raw_text", cut_text(self.raw_text))

    @property
    def ok(self) -> bool:
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of a run's rewards.jsonl)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclasses.dataclass(frozen=True)
class RewardMapping:
    """Maps a 1-5 score to the RL reward.

    `progress`: (score - 1) / 4, so 1 -> 0.0 and 5 -> 1.0 (the default); `success`: 1.0 for a 5 and
    0.0 otherwise; `table`: `table[score - 1]`, five floats for the scores 1..5.
    """

    # "progress" | "success" | "table".
    kind: str = "progress"
    # The rewards for the scores 1..5 when kind == "table"; empty otherwise.
    table: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in MAPPING_KINDS:
            raise ValueError(f"reward mapping: kind {self.kind!r} is not one of {list(MAPPING_KINDS)}")
        table = tuple(float(v) for v in self.table)
        if self.kind == "table" and (len(table) != MAX_SCORE or not all(map(math.isfinite, table))):
            raise ValueError(f"reward mapping: a table needs 5 finite rewards for the scores 1..5, got {self.table!r}")
        if self.kind != "table" and table:
            raise ValueError(f"reward mapping: kind {self.kind!r} takes no table, got {self.table!r}")
        object.__setattr__(self, "table", table)

    def __call__(self, score: int | None) -> float | None:
        if score is None:
            return None
        if score not in range(MIN_SCORE, MAX_SCORE + 1):
            raise ValueError(f"reward mapping: score must be 1-5, got {score!r}")
        if self.kind == "progress":
            return (score - MIN_SCORE) / (MAX_SCORE - MIN_SCORE)
        if self.kind == "success":
            return 1.0 if score == MAX_SCORE else 0.0
        return self.table[score - 1]

    @classmethod
    def parse(cls, spec: RewardMapping | str | Mapping[Any, float] | Sequence[float]) -> RewardMapping:
        """Builds a mapping from a config value: a kind name, {score: reward} or five rewards."""
        if isinstance(spec, RewardMapping):
            return spec
        if isinstance(spec, str):
            return cls(kind=spec)
        if isinstance(spec, Mapping):
            try:
                by_score = {int(k): float(v) for k, v in spec.items()}
            except (TypeError, ValueError) as error:
                raise ValueError(f"reward mapping: table keys must be scores 1..5, got {dict(spec)!r}") from error
            if sorted(by_score) != list(range(MIN_SCORE, MAX_SCORE + 1)):
                raise ValueError(
                    f"reward mapping: a table needs exactly the scores 1..5 as keys, got {sorted(by_score)}"
                )
            return cls(kind="table", table=tuple(by_score[s] for s in range(MIN_SCORE, MAX_SCORE + 1)))
        if isinstance(spec, Sequence):
            return cls(kind="table", table=tuple(spec))
        raise ValueError(
            f"reward mapping: {spec!r} is not one of {list(MAPPING_KINDS)[:2]}, a {{score: reward}} dict "
            "or a list of 5 rewards"
        )


class RewardClient(abc.ABC):
    """Scores episodes. Subclasses implement `score`; `score_many` runs it on a thread pool.

    A client may hold connections: use it as a context manager or call `close()`.
    """

    # The registry name ("roboreward", ...), recorded in every result.
    source: str = ""
    # Largest useful concurrency: None for no limit, 1 for a single operator at a keyboard.
    max_parallel: int | None = None

    def __init__(self, mapping: RewardMapping) -> None:
        self.mapping = mapping

    @classmethod
    def run_settings(cls, run_dir: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Settings this client takes from the run directory it works for, given the user's
        `settings`; `reward_clients.make(..., run_dir=...)` uses them where the user set none.
        By default none: the client keeps nothing in the run."""
        return {}

    @property
    @abc.abstractmethod
    def model(self) -> str:
        """The model id (or source description) recorded in results and the cache key."""

    @abc.abstractmethod
    def score(self, episode: Episode) -> RewardResult:
        """Scores one episode. Failures a retry may fix come back as a result with score=None."""

    def score_many(self, episodes: Sequence[Episode], max_concurrency: int = 4) -> list[RewardResult]:
        """Scores episodes with at most `max_concurrency` in flight; results are in input order.

        An error raised by `score` (a configuration problem such as a wrong key) cancels the
        episodes not yet started and is re-raised once the running ones finish.
        """
        self._check_concurrency(max_concurrency)
        episodes = list(episodes)
        workers = min(max_concurrency, len(episodes), self.max_parallel or max_concurrency)
        if workers <= 1:
            return [self.score(episode) for episode in episodes]
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.source}-score")
        try:
            futures = [pool.submit(self.score, episode) for episode in episodes]
            # Wait in completion order so the first raised error stops the rest early.
            for future in concurrent.futures.as_completed(futures):
                if future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    raise future.exception()
            return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _check_concurrency(self, max_concurrency: int) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"{self.source}: max_concurrency must be an int >= 1, got {max_concurrency!r}")

    def result(self, episode: Episode, score: int | None, **fields: Any) -> RewardResult:
        """A RewardResult for `episode` from this client, with the reward mapped from `score`."""
        return RewardResult(
            episode_id=episode.episode_id,
            source=self.source,
            model=self.model,
            score=score,
            reward=self.mapping(score),
            **fields,
        )

    def close(self) -> None:  # noqa: B027 (an optional hook: only the HTTP clients hold connections)
        """Releases connections; the base client holds none."""

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, model={self.model!r})"
