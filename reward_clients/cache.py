"""An opt-in disk cache of scores, so re-scoring or resuming a run never pays for a request twice.

The key is a SHA-256 over everything that decides the answer: the encoded clip's bytes (the
encoder is deterministic, so the same frames and settings give the same bytes), the task text, the
model id, the exact prompt, and the request settings that change the model's output (temperature,
thinking budget, frame rate). Only successful scores are stored; a failure is always asked again.
`rrl eval-reward` also keeps a model's first replies (kind "reply", under keys of their own),
since the benchmark scores the first reply whatever it says. One small JSON file per entry (the
text cut to a few KB), written atomically, so concurrent writers and crashes are safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reward_clients.base import cut_text

__all__ = ["ScoreCache", "cache_key"]

logger = logging.getLogger(__name__)

# Bump when the key's recipe or the entry's layout changes, so old entries are not misread.
_VERSION = 1


def cache_key(*, video: bytes, task: str, model: str, prompt: str, settings: Mapping[str, Any]) -> str:
    """The hex SHA-256 key of one scoring request."""
    digest = hashlib.sha256()
    digest.update(f"rrl-reward-cache-v{_VERSION}\0".encode())
    digest.update(hashlib.sha256(video).digest())
    for part in (task, model, prompt, json.dumps(dict(settings), sort_keys=True, default=str)):
        encoded = part.encode()
        # Length-prefixed so that no two different field splits hash alike.
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


class ScoreCache:
    """Maps a cache key to a stored answer: {"score": int, "raw_text": str, "model": str, ...},
    or, for a first reply, {"kind": "reply", "raw_text": str, ...}."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Two-character fan-out keeps folders small over long runs.
        return self.directory / key[:2] / f"{key}.json"

    def _read(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            # A damaged entry is a miss (the episode is scored again), not a crash.
            logger.warning("reward cache: ignoring unreadable entry %s: %s", path, error)
            return None
        if not isinstance(entry, dict) or entry.get("version") != _VERSION:
            logger.warning("reward cache: ignoring malformed entry %s", path)
            return None
        return entry

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._read(key)
        if entry is not None and (entry.get("kind", "score") != "score" or entry.get("score") not in range(1, 6)):
            logger.warning("reward cache: ignoring malformed entry %s", self._path(key))
            return None
        return entry

    def get_reply(self, key: str) -> dict[str, Any] | None:
        entry = self._read(key)
        if entry is not None and (entry.get("kind") != "reply" or not isinstance(entry.get("raw_text"), str)):
            logger.warning("reward cache: ignoring malformed reply entry %s", self._path(key))
            return None
        return entry

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        self._write(key, {**entry, "kind": "score"})

    def put_reply(self, key: str, entry: Mapping[str, Any]) -> None:
        self._write(key, {**entry, "kind": "reply"})

    def _write(self, key: str, entry: dict[str, Any]) -> None:
        if isinstance(entry.get("raw_text"), str):
            entry["raw_text"] = cut_text(entry["raw_text"])
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        partial.write_text(json.dumps({**entry, "version": _VERSION}))
        os.replace(partial, path)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json"))
