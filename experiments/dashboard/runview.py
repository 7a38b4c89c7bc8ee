"""A read-only view of a run directory for the dashboard's pages, as plain dicts.

    view = RunView("runs/widowx_pick_place_dsrl-20261126-101500")
    view.scores_by_episode()   # episode id -> source -> its score, raw answer, failures
    view.labels()              # episode id -> the label in force
    view.meta(eid)             # its checked meta.json; None, and view.meta_problem(eid) says why
    view.state()               # whether the run is running, stale, finished or unknown

Everything is read from the files the run writes (and that may be half written: a torn last
line, an episode folder still being renamed into place, no config.json yet); nothing here
writes. Files are re-read only when their size or modification time changed. What each page
makes of these reads lives with its page (experiments.dashboard.pages).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from experiments.dashboard.episode_meta import EpisodeMeta, MetaUnreadable, read_episode_meta
from experiments.rundir import RunDir
from reward_clients.human import current_labels

__all__ = ["RunView", "RunDirMissing"]

# A run writes status.json every few seconds while it runs; older than this, it says so.
STALE_AFTER_S = 30.0
# Episodes with a bad meta.json named one by one in problems(); the rest are counted.
SHOWN_BROKEN = 5


class RunDirMissing(FileNotFoundError):
    """The run directory is gone (never made, moved or deleted); the message says which."""


class RunView:
    """Reads one run directory; safe to share between the server's threads."""

    def __init__(self, root: str | os.PathLike):
        self.run = RunDir(root)
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int], Any]] = {}
        self._meta: dict[str, tuple[tuple[int, int], tuple[EpisodeMeta | None, str | None]]] = {}

    @property
    def root(self) -> Path:
        return self.run.root

    # ----- cached reads -----------------------------------------------------------------------
    def _cached(self, name: str, read) -> Any:
        path = self.root / name
        try:
            stat = path.stat()
            key = (stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            key = (-1, -1)
        with self._lock:
            hit = self._files.get(name)
            if hit is not None and hit[0] == key:
                return hit[1]
        value = read()
        with self._lock:
            self._files[name] = (key, value)
        return value

    def check(self) -> None:
        if not self.root.is_dir():
            raise RunDirMissing(
                f"run directory {self.root} does not exist (not made yet, moved or deleted)"
            )

    def problems(self) -> list[str]:
        """What is missing or unreadable, as messages for the page (empty when all is well)."""
        if not self.root.is_dir():
            return [f"run directory {self.root} does not exist (not made yet, moved or deleted)"]
        out = []
        if self.config() is None:
            out.append(f"{self.root} has no readable config.json yet: the run may still be starting, "
                       "or this folder holds episodes only (rrl rollout)")
        if not self.run.episodes_dir.is_dir():
            out.append(f"{self.root} has no episodes/ folder yet: no episode has been stored")
        broken = self.broken_episodes()
        out += [f"episode {eid}: {problem} (listed and marked, left out of labelling)"
                for eid, problem in list(broken.items())[:SHOWN_BROKEN]]
        if len(broken) > SHOWN_BROKEN:
            out.append(f"{len(broken) - SHOWN_BROKEN} more episodes have an unreadable meta.json")
        return out

    def config(self) -> dict[str, Any] | None:
        def read():
            try:
                value = json.loads((self.root / "config.json").read_text())
            except (OSError, json.JSONDecodeError):
                return None
            return value if isinstance(value, dict) else None

        return self._cached("config.json", read)

    def rewards(self) -> list[dict[str, Any]]:
        return self._cached("rewards.jsonl", self.run.rewards)

    def label_rows(self) -> list[dict[str, Any]]:
        return self._cached("labels.jsonl", self.run.labels)

    def labels(self) -> dict[str, dict[str, Any]]:
        """episode_id -> the label in force (undone labels are gone)."""
        return current_labels(self.label_rows())

    def metrics(self, kind: str) -> list[dict[str, Any]]:
        rows = self._cached("metrics.jsonl", self.run.metrics)
        return [r for r in rows if r.get("kind") == kind]

    def status(self) -> dict[str, Any]:
        def read():
            try:
                value = self.run.read_status()
            except (OSError, json.JSONDecodeError):
                return {}
            return value if isinstance(value, dict) else {}

        return self._cached("status.json", read)

    def episode_ids(self) -> list[str]:
        self.check()
        return self.run.episode_ids()

    def meta(self, episode_id: str) -> EpisodeMeta | None:
        """The episode's checked meta.json, None when it cannot be used (`meta_problem` says why)."""
        return self._read_meta(episode_id)[0]

    def meta_problem(self, episode_id: str) -> str | None:
        """Why the episode's meta.json cannot be used ("meta.json unreadable: ..."), else None."""
        return self._read_meta(episode_id)[1]

    def broken_episodes(self) -> dict[str, str]:
        """episode_id -> its meta.json problem, for the complete episodes whose meta.json is bad."""
        return {eid: problem for eid in self.episode_ids() if (problem := self.meta_problem(eid))}

    def _read_meta(self, episode_id: str) -> tuple[EpisodeMeta | None, str | None]:
        # Cached per episode until meta.json's size or modification time changes.
        path = self.run.episode_path(episode_id) / "meta.json"
        try:
            stat = path.stat()
            key = (stat.st_size, stat.st_mtime_ns)
        except OSError as error:
            return None, f"meta.json unreadable: {error.strerror or error}"
        with self._lock:
            hit = self._meta.get(episode_id)
            if hit is not None and hit[0] == key:
                return hit[1]
        try:
            read: tuple[EpisodeMeta | None, str | None] = (read_episode_meta(path), None)
        except MetaUnreadable as error:
            read = (None, str(error))
        with self._lock:
            self._meta[episode_id] = (key, read)
        return read

    # ----- per-episode scores -----------------------------------------------------------------
    def scores_by_episode(self) -> dict[str, dict[str, dict[str, Any]]]:
        """episode_id -> source -> {score, reward, raw_text, model, latency_s, error, failures}:
        the first row that scored it per source (as RunDir.scored), else the last failure."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for row in self.rewards():
            eid, source = row.get("episode_id"), str(row.get("source") or "?")
            if not isinstance(eid, str):
                continue
            per = out.setdefault(eid, {})
            entry = per.get(source)
            if entry is None or entry["score"] is None:  # the first scoring row, else the latest failure
                keep = ("score", "reward", "raw_text", "model", "latency_s", "attempts", "error", "time")
                entry = {**{k: row.get(k) for k in keep}, "failures": (entry or {}).get("failures", 0)}
            entry["failures"] += row.get("score") is None
            per[source] = entry
        return out

    def order(self) -> dict[str, int]:
        """episode_id -> collection index (the loop's episode_index when known)."""
        ids = self.episode_ids()
        known = {r.get("episode_id"): r.get("episode_index") for r in self.metrics("episode")}
        return {eid: int(known[eid]) if isinstance(known.get(eid), int) else i for i, eid in enumerate(ids)}

    # ----- the run as a whole -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Whether the run process is alive, judged by how fresh status.json is."""
        status = self.status()
        updated = status.get("updated_at")
        if (self.root / "report" / "summary.md").exists():
            return {"state": "finished", "message": "the run has finished (its report is written)",
                    "age_s": None, "loop_paused": status.get("paused")}
        if not isinstance(updated, int | float):
            return {"state": "unknown", "message": "no status.json yet: the run has not reported",
                    "age_s": None, "loop_paused": None}
        age = time.time() - updated
        if age > STALE_AFTER_S:
            return {"state": "stale", "age_s": age, "loop_paused": status.get("paused"),
                    "message": f"the run has not updated status.json for {age:.0f} s: it may have "
                               f"stopped. Labels are still saved; `rrl train --resume {self.root}` uses them"}
        return {"state": "running", "message": "", "age_s": age, "loop_paused": status.get("paused")}
