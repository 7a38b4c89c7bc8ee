"""The run directory: everything a run produces, in one folder that a crashed run resumes from.

    runs/<name>-<time>/
      config.json      the experiment config, as resolved (no secrets)
      episodes/<id>/   video.mp4, episode.npz, meta.json (envs.Episode.save), written before scoring
      rewards.jsonl    one row per scoring attempt that finished: a RewardResult plus `time`;
                       `score` null means it failed (the row says why) and the episode is pending
      labels.jsonl     labels given by people on the web page: {episode_id, score, labeller, time};
                       an undo appends {episode_id, score: null, undo: true}: read the labels in
                       force with reward_clients.human.current_labels(run.labels())
      metrics.jsonl    rows with "kind": "episode" | "reward" | "learner" | "progress" | "actors" |
                       "recovery" (a torn line recovered); an "episode" row with "recovered": true
                       was logged on resume for an episode that finished after the driver died
      status.json      the live state of the run (actors, queue lengths), rewritten in place
      control.json     {"paused": bool, "estop": bool}: pause from the operator page, read between
                       episodes; e-stop from `rrl estop`, polled by every env actor between steps
      checkpoints/     learner checkpoints (`latest`, see RunDir.checkpoint_path)
      safety/          per env actor, every refused or clipped robot command (real robots)
      report/          PNG plots and summary.md at the end

The JSONL files are append-only and survive a crash mid-write (experiments/jsonl.py): a torn
last line is moved to `<file>.torn-<time>` before the next append, or when a run is opened
(recover_torn_tails), and stderr and a "recovery" metrics row say so once.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from envs.episode import to_jsonable
from experiments.jsonl import append_row, read_rows, recover_tail

__all__ = ["RunDir"]


JSONL_FILES = ("rewards.jsonl", "labels.jsonl", "metrics.jsonl")


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


def _episode_problem(folder: Path) -> str | None:
    """Why the episode folder cannot be used, else None (cheap: no video is decoded)."""
    for name in ("meta.json", "episode.npz", "video.mp4"):
        if not (folder / name).is_file():
            return f"{name} missing"
    try:
        if not isinstance(json.loads((folder / "meta.json").read_text()), dict):
            return "meta.json unreadable"
    except (OSError, ValueError):
        return "meta.json unreadable"
    if not zipfile.is_zipfile(folder / "episode.npz"):  # a cut-short write has no zip directory
        return "episode.npz is damaged"
    if (folder / "video.mp4").stat().st_size == 0:
        return "video.mp4 is empty"
    return None


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
        # An e-stop in force stays in force: only `rrl estop --clear` clears it.
        _write_json_atomic(self.root / "control.json", {"paused": bool(paused), "estop": self.estop_requested()})

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
        return str(self.episode_meta(episode_id).get("end_reason", "time_limit"))

    def episode_meta(self, episode_id: str) -> dict[str, Any]:
        """The stored episode's meta.json (envs.Episode.save)."""
        return json.loads((self.episode_path(episode_id) / "meta.json").read_text())

    def broken_episodes(self) -> dict[str, str]:
        """episode_id -> why it cannot be used, for every episode folder (partial writes aside)
        with a file missing, empty or damaged. They stay on disk; a run never buffers, scores or
        counts them."""
        if not self.episodes_dir.exists():
            return {}
        folders = [p for p in self.episodes_dir.iterdir() if p.is_dir() and ".partial-" not in p.name]
        return {p.name: problem for p in sorted(folders) if (problem := _episode_problem(p))}

    def next_episode_index(self) -> int:
        """One past the highest episode index this run ever handed out, from the episodes'
        meta.json and the metrics rows, so a deleted episode's index (and scene) is never reused."""
        used = [row.get("episode_index") for row in self.metrics() if row.get("kind") in ("episode", "reward")]
        for eid in self.episode_ids():
            try:
                used.append(self.episode_meta(eid).get("metadata", {}).get("episode_index"))
            except (OSError, ValueError, AttributeError):
                continue  # a damaged meta.json: broken_episodes names it
        return 1 + max((i for i in used if isinstance(i, int) and not isinstance(i, bool)), default=-1)

    def record_missing_episode_rows(self, episode_ids: list[str]) -> list[str]:
        """Appends an "episode" metrics row, built from meta.json, for each of `episode_ids` that
        has none (an episode finished after the driver died); returns their ids."""
        logged = {row.get("episode_id") for row in self.metrics("episode")}
        missing = [eid for eid in episode_ids if eid not in logged]
        for eid in missing:
            meta = self.episode_meta(eid)
            extra = meta.get("metadata") or {}
            self.append_metrics("episode", {
                "episode_id": eid, "actor": extra.get("actor"), "episode_index": extra.get("episode_index"),
                "oracle_score": meta.get("oracle_score"), "is_success": meta.get("is_success"),
                "steps": len(meta.get("infos") or []), "params_version": extra.get("params_version"),
                "seed": meta.get("seed"), "end_reason": meta.get("end_reason", "time_limit"),
                "duration_s": max(0.0, float(meta.get("ended_at") or 0) - float(meta.get("started_at") or 0)),
                "recovered": True,  # logged on resume, not when it finished
            })
        return missing

    # ----- rewards, labels and metrics --------------------------------------------------------
    def _append(self, file_name: str, row: dict[str, Any] | None) -> Path | None:
        path = self.root / file_name
        quarantine = recover_tail(path) if row is None else append_row(path, row)
        if quarantine is not None:  # said once: the tail is clean from now on
            size = quarantine.stat().st_size
            print(f"{self.root / file_name}: a torn last line ({size} bytes, a crash mid-write) was moved "
                  f"to {quarantine.name}", file=sys.stderr, flush=True)
            self.append_metrics("recovery", {"file": file_name, "quarantine": quarantine.name, "bytes": size})
        return quarantine

    def recover_torn_tails(self) -> list[Path]:
        """Recovers a torn last line of each JSONL file (a crash mid-append); returns the
        quarantine files made. Opening a run calls this; every append does it too."""
        made = [self._append(name, None) for name in JSONL_FILES]
        return [path for path in made if path is not None]

    def append_reward(self, result: dict[str, Any]) -> None:
        self._append("rewards.jsonl", {**result, "time": time.time()})

    def rewards(self) -> list[dict[str, Any]]:
        return list(read_rows(self.root / "rewards.jsonl"))

    def scored(self) -> dict[str, dict[str, Any]]:
        """episode_id -> the first row that scored it (score not null)."""
        out: dict[str, dict[str, Any]] = {}
        for row in self.rewards():
            if row.get("score") is not None:
                out.setdefault(row["episode_id"], row)
        return out

    def append_label(self, episode_id: str, score: int, labeller: str = "web") -> None:
        self._append(
            "labels.jsonl",
            {"episode_id": episode_id, "score": int(score), "labeller": labeller, "time": time.time()},
        )

    def retract_label(self, episode_id: str, labeller: str = "web") -> None:
        """Appends an undo row: the episode's earlier label is no longer in force."""
        self._append(
            "labels.jsonl",
            {"episode_id": episode_id, "score": None, "labeller": labeller, "time": time.time(), "undo": True},
        )

    def labels(self) -> list[dict[str, Any]]:
        return list(read_rows(self.root / "labels.jsonl"))

    def append_metrics(self, kind: str, row: dict[str, Any]) -> None:
        self._append("metrics.jsonl", {"kind": kind, "time": time.time(), **row})

    def metrics(self, kind: str | None = None) -> list[dict[str, Any]]:
        rows = read_rows(self.root / "metrics.jsonl")
        return [r for r in rows if kind is None or r.get("kind") == kind]

    def set_estop(self, on: bool) -> None:  # noqa: FBT001 (a setter's one argument)
        """Sets (every arm of the run stops) or clears the run's e-stop in control.json, keeping
        the pause flag (experiments/training/estop.py)."""
        path = self.root / "control.json"
        try:
            control = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            control = {}
        _write_json_atomic(path, {"paused": bool(control.get("paused", False)), "estop": bool(on)})

    def estop_requested(self) -> bool:
        """Whether the run's e-stop is set; an unreadable control.json counts as set (stop when in
        doubt; `rrl estop RUN --clear` rewrites it)."""
        path = self.root / "control.json"
        if not path.exists():
            return False
        try:
            return bool(json.loads(path.read_text()).get("estop", False))
        except (json.JSONDecodeError, AttributeError, OSError):
            return True
