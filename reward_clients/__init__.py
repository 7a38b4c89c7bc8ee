"""Reward clients: one interface over RoboReward (vLLM), Gemini Robotics-ER, a human, the sim oracle,
and a uniformly random score (the no-information control).

    import reward_clients

    client = reward_clients.make("roboreward", base_url="http://127.0.0.1:8000/v1")
    result = client.score(episode)            # RewardResult(score=4, reward=0.75, ...)
    results = client.score_many(episodes, max_concurrency=8)   # in input order

    # In a run, each client takes what it needs from the run directory (run_settings): the model
    # clients cache scores in <run>/reward_cache, the web-mode human client reads <run>/labels.jsonl.
    client = reward_clients.make("roboreward", run_dir="runs/widowx-pick-...")

Names: "roboreward", "gemini_er", "human", "oracle", "noisy_oracle", "random". The settings of each
are the fields of its config class (RoboRewardConfig, GeminiConfig, HumanConfig, OracleConfig,
NoisyOracleConfig, RandomConfig); `noisy_oracle` and `random` are simulated reward models, and
their results' model names start with "simulated:". `api_key=` (HTTP clients) and `source=` (human)
are runtime objects, not settings, and are never written to a config file. This package imports
neither JAX nor Ray.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any

from reward_clients.base import MAX_RAW_TEXT_CHARS, RewardClient, RewardMapping, RewardResult
from reward_clients.cache import ScoreCache, cache_key
from reward_clients.errors import (
    RetriesExhaustedError,
    RewardAnswerError,
    RewardClientError,
    RewardConfigError,
    RewardQuotaError,
    RewardServerError,
    RewardUnreachableError,
    RewardVideoTooLargeError,
)
from reward_clients.gemini import GeminiClient, GeminiConfig
from reward_clients.human import (
    CallableSource,
    HumanClient,
    HumanConfig,
    LabelRequest,
    LabelSource,
    TerminalSource,
)
from reward_clients.media import Clip, VideoSpec, make_clip
from reward_clients.oracle import (
    NoisyOracleClient,
    NoisyOracleConfig,
    OracleClient,
    OracleConfig,
    RandomClient,
    RandomConfig,
)
from reward_clients.prompt import ROBOREWARD_PROMPT, build_prompt, parse_answer
from reward_clients.roboreward import RoboRewardClient, RoboRewardConfig

__all__ = [
    "make",
    "NAMES",
    "config_class",
    "RewardClient",
    "RewardResult",
    "RewardMapping",
    "MAX_RAW_TEXT_CHARS",
    "RoboRewardClient",
    "RoboRewardConfig",
    "GeminiClient",
    "GeminiConfig",
    "HumanClient",
    "HumanConfig",
    "LabelRequest",
    "LabelSource",
    "TerminalSource",
    "CallableSource",
    "OracleClient",
    "OracleConfig",
    "NoisyOracleClient",
    "NoisyOracleConfig",
    "RandomClient",
    "RandomConfig",
    "ScoreCache",
    "cache_key",
    "Clip",
    "VideoSpec",
    "make_clip",
    "ROBOREWARD_PROMPT",
    "build_prompt",
    "parse_answer",
    # the typed errors (errors.py)
    "RetriesExhaustedError",
    "RewardAnswerError",
    "RewardClientError",
    "RewardConfigError",
    "RewardQuotaError",
    "RewardServerError",
    "RewardUnreachableError",
    "RewardVideoTooLargeError",
]

# name -> (config class, client class, keyword arguments passed to the client, not the config)
_REGISTRY: dict[str, tuple[type, type[RewardClient], frozenset[str]]] = {
    "roboreward": (RoboRewardConfig, RoboRewardClient, frozenset({"api_key"})),
    "gemini_er": (GeminiConfig, GeminiClient, frozenset({"api_key"})),
    "human": (HumanConfig, HumanClient, frozenset({"source"})),
    "oracle": (OracleConfig, OracleClient, frozenset()),
    "noisy_oracle": (NoisyOracleConfig, NoisyOracleClient, frozenset()),
    "random": (RandomConfig, RandomClient, frozenset()),
}
NAMES = tuple(_REGISTRY)


def config_class(name: str) -> type:
    """The config dataclass of a client name (for building configs and documenting settings)."""
    return _registry_entry(name)[0]


def make(name: str, *, run_dir: str | os.PathLike | None = None, **config: Any) -> RewardClient:
    """Builds the reward client `name` from its settings; a bad setting or missing key fails here.

    `run_dir`: the run directory the client works for, or None. The client class decides what it
    takes from it (`RewardClient.run_settings`); a setting given here always wins.
    """
    config_cls, client_cls, runtime_names = _registry_entry(name)
    if run_dir is not None:
        if not isinstance(run_dir, str | os.PathLike) or not str(run_dir):
            raise RewardConfigError(f"reward_clients.make({name!r}): run_dir must be a path or None, got {run_dir!r}")
        config = {**client_cls.run_settings(Path(run_dir), config), **config}
    runtime = {key: config.pop(key) for key in runtime_names if key in config}
    fields = {field.name for field in dataclasses.fields(config_cls)}
    unknown = sorted(set(config) - fields)
    if unknown:
        hints = [
            f"{key!r} (did you mean {close[0]!r}?)"
            if (close := difflib.get_close_matches(key, fields, 1))
            else repr(key)
            for key in unknown
        ]
        raise RewardConfigError(
            f"reward_clients.make({name!r}): unknown setting(s) {', '.join(hints)}; "
            f"allowed: {sorted(fields | runtime_names)}"
        )
    try:
        settings = config_cls(**config)
    except ValueError as error:
        raise RewardConfigError(f"reward_clients.make({name!r}): {error}") from error
    return client_cls(settings, **runtime)


def _registry_entry(name: str) -> tuple[type, type[RewardClient], frozenset[str]]:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), NAMES, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RewardConfigError(f"reward_clients: unknown client {name!r}{hint}; expected one of {list(NAMES)}")
    return _REGISTRY[name]
