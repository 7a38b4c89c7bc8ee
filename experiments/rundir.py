"""The run directory: everything a run produces, in one folder that a crashed run resumes from.

    runs/<name>-<time>/
      config.json      the experiment config, as resolved (no secrets)
      episodes/<id>/   video.mp4, episode.npz, meta.json (envs.Episode.save), written before scoring
      rewards.jsonl    one row per scoring attempt that finished: a RewardResult plus `time`;
                       `score` null means it failed (the row says why) and the episode is pending
      labels.jsonl     labels given by people on the web page: {episode_id, score, labeller, time};
                       an undo appends {episode_id, score: null, undo: true}: read the labels in
                       force with reward_clients.human.current_labels(run.labels())
      metrics.jsonl    rows with "kind": "episode" | "learner" | "progress" (see below)
      status.json      the live state of the run (actors, queue lengths), rewritten in place
      control.json     {"paused": bool}: written by the operator page, read between episodes
      checkpoints/     learner checkpoints (`latest`, see RunDir.checkpoint_path)
      safety/          per env actor, every refused or clipped robot command (real robots)
      report/          PNG plots and summary.md at the end

Appends are single `write` calls of one line to a file opened with O_APPEND, then fsync, so
several writers (the run, the labelling page) never interleave and a crash loses at most the
line being written; readers skip a torn last line.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envs.episode import to_jsonable

__all__ = ["RunDir"]


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    line = (json.dumps(to_jsonable(row), separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash mid-write


def _write_json_atomic(path: Path, value: Any) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(to_jsonable(value), indent=1))
    os.replace(partial, path)


def fresh_dir(parent: Path, name: str) -> Path:
    """Makes and returns a new folder `parent/<name>-<time>`, with -2, -3, ... added if that is
    taken: mkdir fails on an existing folder, so two runs started in the same second (an
    ablation and a training run, two terminals) never share one and overwrite each other.
    Every command that writes a timestamped output folder makes it here."""
    parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in itertools.count(1):
        path = parent / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


class RunDir:
    """Paths and durable reads/writes of one run directory, and the run's scene seeds.

    Everything that names a file of a run asks here, so the layout is written down once.
    """

    CHECKPOINT_NAME = "latest"
    # Evaluation scenes start beyond every training scene (seed * 1e6 + index stays below it).
    EVAL_SEED_OFFSET = 1_000_000_000

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @classmethod
    def containing(cls, path: str | os.PathLike) -> RunDir:
        """The run of `path`: the run directory itself or its `checkpoints/latest`."""
        path = Path(path)
        if path.name == cls.CHECKPOINT_NAME and path.parent.name == "checkpoints":
            path = path.parent.parent
        return cls(path)

    # ----- scene seeds ------------------------------------------------------------------------
    @staticmethod
    def training_scene_seed(run_seed: int, episode_index: int) -> int:
        """The scene of the run's episode number `episode_index`, whichever actor runs it, so
        runs that differ only in the reward source see the same scenes."""
        return run_seed * 1_000_000 + episode_index

    @classmethod
    def evaluation_scene_seed(cls, eval_seed: int, scene_index: int) -> int:
        """Held-out scenes: never one a training run of any seed has seen."""
        return cls.EVAL_SEED_OFFSET + eval_seed * 10_000 + scene_index

    @property
    def episodes_dir(self) -> Path:
        return self.root / "episodes"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def checkpoint_path(self) -> Path:
        """The learner's checkpoint, rewritten as the run goes (resume and evaluate read it)."""
        return self.checkpoints_dir / self.CHECKPOINT_NAME

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def safety_log(self, actor_index: int) -> Path:
        """Where env actor `actor_index` logs every refused or clipped robot command."""
        return self.root / "safety" / f"actor{actor_index}.jsonl"

    def create(self) -> RunDir:
        for path in (self.root, self.episodes_dir, self.checkpoints_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self

    def check(self) -> None:
        """Raises FileNotFoundError naming what is missing when this is not a run directory."""
        if not self.root.is_dir():
            raise FileNotFoundError(f"run directory {self.root} does not exist")
        if not (self.root / "config.json").is_file():
            raise FileNotFoundError(
                f"{self.root} is not a run directory: it has no config.json "
                "(runs are made by `rrl train`)"
            )

    # ----- config and live state --------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        _write_json_atomic(self.root / "config.json", config)

    def read_config(self) -> dict[str, Any]:
        self.check()
        return json.loads((self.root / "config.json").read_text())

    def write_status(self, status: dict[str, Any]) -> None:
        _write_json_atomic(self.root / "status.json", {**status, "updated_at": time.time()})

    def read_status(self) -> dict[str, Any]:
        path = self.root / "status.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def paused(self) -> bool:
        path = self.root / "control.json"
        if not path.exists():
            return False
        try:
            return bool(json.loads(path.read_text()).get("paused", False))
        except json.JSONDecodeError:
            return False

    def set_paused(self, paused: bool) -> None:  # noqa: FBT001 (a setter's one argument)
        _write_json_atomic(self.root / "control.json", {"paused": bool(paused)})

    # ----- episodes ---------------------------------------------------------------------------
    def episode_path(self, episode_id: str) -> Path:
        return self.episodes_dir / episode_id

    def episode_ids(self) -> list[str]:
        """Ids of the complete episodes on disk (partial writes are skipped), oldest first."""
        if not self.episodes_dir.exists():
            return []
        complete = [
            p for p in self.episodes_dir.iterdir()
            if p.is_dir() and ".partial-" not in p.name and (p / "meta.json").exists()
        ]
        return [p.name for p in sorted(complete, key=lambda p: (p.stat().st_mtime, p.name))]

    def end_reason(self, episode_id: str) -> str:
        """Why the stored episode ended ("time_limit", "success", or a fault)."""
        meta = json.loads((self.episode_path(episode_id) / "meta.json").read_text())
        return str(meta.get("end_reason", "time_limit"))

    # ----- rewards, labels and metrics --------------------------------------------------------
    def append_reward(self, result: dict[str, Any]) -> None:
        _append_jsonl(self.root / "rewards.jsonl", {**result, "time": time.time()})

    def rewards(self) -> list[dict[str, Any]]:
        return list(_read_jsonl(self.root / "rewards.jsonl"))

    def scored(self) -> dict[str, dict[str, Any]]:
        """episode_id -> the first row that scored it (score not null)."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.rewards():
            if row.get("score") is not None:
                out.setdefault(row["episode_id"], row)
        return out

    def append_label(self, episode_id: str, score: int, labeller: str = "web") -> None:
        _append_jsonl(
            self.root / "labels.jsonl",
            {"episode_id": episode_id, "score": int(score), "labeller": labeller, "time": time.time()},
        )

    def retract_label(self, episode_id: str, labeller: str = "web") -> None:
        """Appends an undo row: the episode's earlier label is no longer in force."""
        _append_jsonl(
            self.root / "labels.jsonl",
            {"episode_id": episode_id, "score": None, "labeller": labeller, "time": time.time(), "undo": True},
        )

    def labels(self) -> list[dict[str, Any]]:
        return list(_read_jsonl(self.root / "labels.jsonl"))

    def append_metrics(self, kind: str, row: dict[str, Any]) -> None:
        _append_jsonl(self.root / "metrics.jsonl", {"kind": kind, "time": time.time(), **row})

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = _read_jsonl(self.root / "metrics.jsonl")
        return [r for r in rows if kind is None or r.get("kind") == kind]
