"""The scoring loop shared by the video-model clients (RoboReward over vLLM, Gemini Robotics-ER).

One `score` call: encode the clip, look in the cache, then up to `max_retries + 1` requests
(transport.call_with_retries, the retry loop the counterfactual relabeller shares).
Each request either gives a parsable answer (done), fails in a way a retry may fix (back off and
try again), or fails in a way that says the configuration is wrong (raise at once). A parse
failure counts as a failed attempt like a 503 does. When the attempts run out the episode comes
back with `score=None` and the last error, raw text included. The API key is redacted from
everything a result or the cache keeps, the model's text included.

`first_reply` is the benchmark's protocol instead (`rrl eval-reward`): the first answer the
model gives, unparsed, with only transport failures retried.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import os
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from envs.episode import Episode
from reward_clients.base import MAX_RAW_TEXT_CHARS, RewardClient, RewardMapping, RewardResult
from reward_clients.cache import ScoreCache, cache_key
from reward_clients.errors import (
    RetriesExhaustedError,
    RewardAnswerError,
    RewardConfigError,
    RewardQuotaError,
    RewardServerError,
)
from reward_clients.media import Clip, VideoSpec, make_clip
from reward_clients.pipeline import score_pipelined
from reward_clients.prompt import build_prompt, parse_answer
from reward_clients.transport import (
    RETRYABLE_STATUS,
    TransportConfig,
    call_with_retries,
    error_message,
    parse_retry_after,
    redact,
    redact_json,
)

__all__ = ["ModelClientConfig", "ModelClient", "Prepared", "Reply", "FirstReply"]

# How much of a model's text goes into an error message (the full text is in raw_text).
_ERROR_TEXT_CHARS = 500


@dataclasses.dataclass(frozen=True)
class ModelClientConfig(TransportConfig):
    """Settings common to the clients that send the episode video to a model over HTTP (plus the
    base_url, timeouts and retries of TransportConfig)."""

    # The model id the service serves.
    model: str = ""
    # Environment variable holding the API key; the key itself is never part of a config.
    api_key_env: str = ""
    # Frames per second sampled from the episode for the clip (at most the episode's rate).
    fps: float | None = 2.0
    # Most frames sent per episode; the last frame is always among them.
    max_frames: int = 32
    # Clip (height, width); None keeps the camera's size.
    resolution: tuple[int, int] | None = None
    # x264 quality of the clip (lower = better, bigger).
    crf: int = 20
    # Folder of the score cache; None disables caching. In a run it defaults to <run>/reward_cache.
    cache_dir: str | None = None
    # Score-to-reward mapping: "progress", "success", {score: reward} or five rewards.
    mapping: Any = "progress"

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"{type(self).__name__}: model must be a non-empty model id, got {self.model!r}")
        super().__post_init__()
        if self.cache_dir is not None and not isinstance(self.cache_dir, str | os.PathLike):
            raise ValueError(f"{type(self).__name__}: cache_dir must be a path or None, got {self.cache_dir!r}")
        object.__setattr__(self, "mapping", RewardMapping.parse(self.mapping))
        # Built once here so a bad value fails at make(), not at the first episode.
        object.__setattr__(self, "resolution", self.video_spec().resolution)

    def video_spec(self) -> VideoSpec:
        return VideoSpec(fps=self.fps, max_frames=self.max_frames, resolution=self.resolution, crf=self.crf)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A request ready to send, built from one episode."""

    url: str
    # Includes the API key: kept out of repr so it cannot leak into a log line.
    headers: Mapping[str, str] = dataclasses.field(repr=False)
    # The JSON body, serialized.
    data: bytes = dataclasses.field(repr=False)
    clip: Clip = dataclasses.field(repr=False)
    prompt: str = dataclasses.field(repr=False)
    # Cache key of this request (see cache.py).
    key: str = ""


@dataclasses.dataclass(frozen=True)
class Reply:
    """The text of a model's answer plus its accounting."""

    text: str
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FirstReply:
    """A model's first answer to one episode, unparsed: what a benchmark scores (`first_reply`)."""

    # The answer text, API key redacted; "" when there is none.
    text: str
    # Requests made; 0 for a cache hit.
    attempts: int
    latency_s: float
    cached: bool = False
    usage: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Why there is no answer (the retries for transport failures ran out); None when there is one.
    error: str | None = None


class ModelClient(RewardClient):
    """Base of the HTTP video-model clients; subclasses build the request and read the reply."""

    def __init__(self, config: ModelClientConfig, api_key: str | None = None) -> None:
        super().__init__(config.mapping)
        self.config = config
        if api_key is None and config.api_key_env:
            api_key = os.environ.get(config.api_key_env) or None
        self._api_key = api_key
        self._check_key()
        self._spec = config.video_spec()
        self._transport = config.open_transport(self.source)
        self._cache = ScoreCache(config.cache_dir) if config.cache_dir else None
        self._rng = random.Random()

    @classmethod
    def run_settings(cls, run_dir: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
        # Re-scoring after a reward actor restart must not pay twice.
        return {"cache_dir": str(run_dir / "reward_cache")}

    @property
    def model(self) -> str:
        return self.config.model

    def _check_key(self) -> None:
        """Raises RewardConfigError when the service needs a key and none is set."""

    @abc.abstractmethod
    def build_request(self, clip: Clip, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(url, headers, JSON body) for one clip and prompt."""

    @abc.abstractmethod
    def read_reply(self, payload: dict[str, Any]) -> Reply:
        """The answer text of a 2xx JSON reply; raises RewardAnswerError or RewardServerError."""

    @abc.abstractmethod
    def explain(self, status: int, message: str) -> str:
        """What to fix for a non-retryable HTTP error."""

    def cache_settings(self) -> dict[str, Any]:
        """Request settings besides clip, task, model and prompt that change the answer."""
        return {}

    def retry_after(self, headers: Mapping[str, str], payload: Any) -> float | None:
        return parse_retry_after(headers.get("Retry-After"))

    def is_daily_quota(self, payload: Any) -> bool:
        return False

    def prepare(self, episode: Episode) -> Prepared:
        """Sub-samples, encodes and builds the request for an episode (no network)."""
        clip = make_clip(episode, self._spec)
        prompt = build_prompt(episode.task)
        url, headers, body = self.build_request(clip, prompt)
        key = cache_key(
            video=clip.mp4, task=episode.task, model=self.model, prompt=prompt, settings=self.cache_settings()
        )
        return Prepared(url=url, headers=headers, data=_dumps(body), clip=clip, prompt=prompt, key=key)

    def score(self, episode: Episode) -> RewardResult:
        return self.score_prepared(episode, self.prepare(episode), time.monotonic())

    def score_many(self, episodes: Sequence[Episode], max_concurrency: int = 4) -> list[RewardResult]:
        """As RewardClient.score_many, with clip encoding run ahead of the requests (pipeline.py)."""
        self._check_concurrency(max_concurrency)
        return score_pipelined(episodes, self.prepare, self.score_prepared, max_concurrency, name=self.source)

    def score_prepared(self, episode: Episode, prepared: Prepared, start: float) -> RewardResult:
        """Scores a prepared request: cache, then up to max_retries + 1 requests. `start` is when
        the work on the episode began (for latency_s)."""
        if self._cache is not None and (entry := self._cache.get(prepared.key)) is not None:
            return self.result(
                episode,
                entry["score"],
                raw_text=self._redact(str(entry.get("raw_text", ""))),
                cached=True,
                latency_s=time.monotonic() - start,
            )
        attempts, raw_text = 0, ""

        def send() -> tuple[int, Reply]:
            nonlocal attempts, raw_text
            attempts += 1
            try:
                reply = self.read_reply(self._post(prepared))
                raw_text = reply.text
                return parse_answer(reply.text), reply
            except RewardAnswerError as error:
                raw_text = error.raw_text
                raise

        what = f"episode {episode.episode_id}"
        try:
            score, reply = call_with_retries(self.config, send, service=self.source, what=what, rng=self._rng,
                                             secrets=self._secrets())
        except RetriesExhaustedError as exhausted:
            return self._failed(episode, str(exhausted), exhausted.__cause__, raw_text, attempts, start)
        except RewardAnswerError as error:  # one that asking again cannot fix (a blocked prompt)
            message = f"{self.source}: {what} failed after {attempts} attempt(s): {error}"
            return self._failed(episode, message, error, raw_text, attempts, start)
        # A server may quote the key back; nothing it wrote is kept unredacted.
        raw_text = self._redact(raw_text)
        if self._cache is not None:
            self._cache.put(
                prepared.key,
                {"score": score, "raw_text": raw_text, "model": self.model, "source": self.source, "task": episode.task},
            )
        return self.result(
            episode, score, raw_text=raw_text, attempts=attempts, usage=redact_json(reply.usage, self._secrets()),
            latency_s=time.monotonic() - start,
        )

    def first_reply(self, episode: Episode, prepared: Prepared, start: float) -> FirstReply:
        """The model's first answer to a prepared request, unparsed, as RoboRewardBench scores it.

        Transport failures (connection, timeouts, 5xx, 429) are retried up to max_retries times;
        an answer is never asked again, whatever it says (a reply cut at the token limit or
        blocked is its text so far). Configuration errors raise as in `score`. With a cache,
        replies are kept apart from scores; one longer than MAX_RAW_TEXT_CHARS is not cached, so
        a cached reply always reads as the live one did.
        """
        key = hashlib.sha256(f"first-reply\0{prepared.key}".encode()).hexdigest()
        if self._cache is not None and (entry := self._cache.get_reply(key)) is not None:
            return FirstReply(text=entry["raw_text"], attempts=0, latency_s=time.monotonic() - start, cached=True)
        attempts = 0

        def send() -> Reply:
            nonlocal attempts
            attempts += 1
            try:
                return self.read_reply(self._post(prepared))
            except RewardAnswerError as error:
                return Reply(text=error.raw_text)

        what = f"episode {episode.episode_id}"
        try:
            reply = call_with_retries(self.config, send, service=self.source, what=what, rng=self._rng,
                                      secrets=self._secrets())
        except RetriesExhaustedError as exhausted:
            return FirstReply(text="", attempts=attempts, latency_s=time.monotonic() - start,
                              error=self._redact(str(exhausted)))
        text = self._redact(reply.text)
        if self._cache is not None and len(text) <= MAX_RAW_TEXT_CHARS:
            self._cache.put_reply(
                key, {"raw_text": text, "model": self.model, "source": self.source, "task": episode.task}
            )
        return FirstReply(text=text, attempts=attempts, latency_s=time.monotonic() - start,
                          usage=redact_json(reply.usage, self._secrets()))

    def _failed(
        self, episode: Episode, message: str, last_error: BaseException | None, raw_text: str, attempts: int,
        start: float,
    ) -> RewardResult:
        """The result of an episode left unscored, to be retried later; never a made-up score."""
        if isinstance(last_error, RewardAnswerError):
            message += f"; raw text: {raw_text[-_ERROR_TEXT_CHARS:]!r}"
        return self.result(episode, None, raw_text=self._redact(raw_text), attempts=attempts,
                           error=self._redact(message), latency_s=time.monotonic() - start)

    def _post(self, prepared: Prepared) -> dict[str, Any]:
        """Sends one request; returns the JSON object of a 2xx reply or raises RewardServerError."""
        status, headers, payload, body = self._transport.post_json(prepared.url, prepared.headers, prepared.data)
        if 200 <= status < 300:
            if not isinstance(payload, dict):
                raise RewardServerError(
                    f"{self.source}: HTTP {status} from {prepared.url} is not a JSON object: "
                    f"{self._redact(body[:200].decode('utf-8', 'replace'))!r}",
                    status=status,
                    retryable=True,
                )
            return payload
        message = self._redact(error_message(payload, body))
        where = f"{self.source}: HTTP {status} from {prepared.url}: {message}"
        if status == 429 and self.is_daily_quota(payload):
            raise RewardQuotaError(
                f"{where}. A per-day quota does not recover by retrying: wait for the reset, "
                "raise the quota or use another key or model.",
                status=status,
            )
        if status in RETRYABLE_STATUS or status >= 500:
            raise RewardServerError(
                where, status=status, retryable=True, retry_after_s=self.retry_after(headers, payload)
            )
        raise RewardServerError(f"{where}. {self.explain(status, message)}", status=status)

    def _secrets(self) -> list[str]:
        return [self._api_key] if self._api_key else []

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets())

    def close(self) -> None:
        self._transport.close()


def _dumps(body: dict[str, Any]) -> bytes:
    # Compact separators: the base64 video dominates, but there is no reason to pad it.
    return json.dumps(body, separators=(",", ":")).encode()


def require_key(source: str, api_key: str | None, env: str, hint: str) -> None:
    """Raises RewardConfigError naming the environment variable when a required key is missing."""
    if not api_key:
        raise RewardConfigError(f"{source}: no API key: set the environment variable {env} ({hint})")
