"""Tiny datasets and run directories for the eval-reward and make-dataset tests (32x32 videos)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from envs.episode import Episode
from envs.video import encode_mp4
from experiments.rundir import RunDir


def frames(count: int = 4, size: int = 32, seed: int = 0) -> np.ndarray:
    """A small square moving across a plain background; `seed` shifts its colour and start."""
    out = np.full((count, size, size, 3), 40 + 10 * (seed % 5), np.uint8)
    for i in range(count):
        x = (seed * 3 + i * 4) % (size - 8)
        out[i, 10:18, x : x + 8] = (200, 60 + 20 * (seed % 7), 60)
    return out


def write_video(path: Path, count: int = 4, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_mp4(frames(count, seed=seed), fps=2.0))
    return path


def write_split(split_dir: Path, lines: Iterable[dict[str, Any] | str], videos: Iterable[str] = ()) -> Path:
    """metadata.jsonl from `lines` (a dict is dumped, a str written as is) plus tiny mp4s for `videos`."""
    split_dir.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(videos):
        write_video(split_dir / name, seed=seed)
    text = "".join((json.dumps(line) if isinstance(line, dict) else line) + "\n" for line in lines)
    (split_dir / "metadata.jsonl").write_text(text)
    return split_dir


def make_run(root: Path, episodes: list[dict[str, Any]], config: dict[str, Any] | None = None) -> RunDir:
    """A run directory with one saved episode per dict (Episode fields; frames made up)."""
    run = RunDir(root).create()
    run.write_config(config or {"name": "test-run"})
    for seed, fields in enumerate(episodes):
        fields = {"robot": "widowx", "task_name": "pick_place", "fps": 2.0, **fields}
        count = fields.pop("count", 6)
        episode = Episode(frames=frames(count, seed=seed), **fields)
        episode.save(run.episode_path(episode.episode_id))
    return run
