"""A read-only view of a run directory for the dashboard: what the pages show, as plain dicts.

    view = RunView("runs/widowx_pick_place_dsrl-20261126-101500")
    view.overview()        # config summary, counts, progress, learner, actors, run state
    view.curves()          # success, reward, queue length and latency series for the plots
    view.episodes(min_disagreement=2)   # episode summaries with every source's score
    view.agreement("roboreward")        # human labels against a source: confusion matrix, MAE

Everything is read from the files the run writes (and that may be half written: a torn last
line, an episode folder still being renamed into place, no config.json yet); nothing here
writes. Files are re-read only when their size or modification time changed.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from experiments.rundir import RunDir
from reward_clients.human import current_labels

__all__ = ["RunView", "RunDirMissing", "moving_mean", "SAFETY_KINDS"]

# A run writes status.json every few seconds while it runs; older than this, it says so.
STALE_AFTER_S = 30.0
# Per-step info flags that the real-robot env sets when the safety layer stepped in.
SAFETY_KINDS = ("action_clipped", "workspace_clipped", "orientation_clipped")
# Reward sources that are people, not models (the agreement view compares them with the rest).
HUMAN_SOURCES = frozenset({"human"})


class RunDirMissing(FileNotFoundError):
    """The run directory is gone (never made, moved or deleted); the message says which."""


def moving_mean(values: list[float], window: int = 20) -> list[float]:
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class RunView:
    """Reads one run directory; safe to share between the server's threads."""

    def __init__(self, root: str | os.PathLike):
        self.run = RunDir(root)
        self._lock = threading.Lock()
        self._files: dict[str, tuple[tuple[int, int], Any]] = {}
        self._meta: dict[str, tuple[int, dict[str, Any] | None]] = {}

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

    def meta(self, episode_id: str) -> dict[str, Any] | None:
        """The episode's meta.json (cached; written once by Episode.save), None if unreadable."""
        path = self.run.episode_path(episode_id) / "meta.json"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None
        with self._lock:
            hit = self._meta.get(episode_id)
            if hit is not None and hit[0] == mtime:
                return hit[1]
        try:
            meta = json.loads(path.read_text())
            meta = meta if isinstance(meta, dict) else None
        except (OSError, json.JSONDecodeError):
            meta = None
        with self._lock:
            self._meta[episode_id] = (mtime, meta)
        return meta

    # ----- per-episode summaries --------------------------------------------------------------
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

    def summary(self, episode_id: str, *, scores=None, labels=None, order=None) -> dict[str, Any] | None:
        meta = self.meta(episode_id)
        if meta is None:
            return None
        scores = self.scores_by_episode() if scores is None else scores
        labels = self.labels() if labels is None else labels
        order = self.order() if order is None else order
        sources = scores.get(episode_id, {})
        label = labels.get(episode_id)
        infos = meta.get("infos") or []
        extra = meta.get("metadata") or {}
        safety = {k: sum(bool(i.get(k)) for i in infos if isinstance(i, dict)) for k in SAFETY_KINDS}
        safety["events"] = sum(int(i.get("safety_events") or 0) for i in infos if isinstance(i, dict))
        safety["fault"] = next((i["fault"] for i in infos if isinstance(i, dict) and i.get("fault")), None)
        values = [s["score"] for s in sources.values() if s.get("score") is not None]
        values += [label["score"]] if label else []
        values += [meta["oracle_score"]] if meta.get("oracle_score") is not None else []
        return {
            "episode_id": episode_id, "index": order.get(episode_id), "task": meta.get("task", ""),
            "robot": meta.get("robot", ""), "task_name": meta.get("task_name", ""),
            "oracle_score": meta.get("oracle_score"), "is_success": meta.get("is_success"),
            "end_reason": meta.get("end_reason"), "num_frames": meta.get("num_frames"),
            "fps": meta.get("fps"), "frame_size": meta.get("frame_size"),
            "duration_s": max(0.0, float(meta.get("ended_at") or 0) - float(meta.get("started_at") or 0)),
            "actor": extra.get("actor"), "params_version": extra.get("params_version"),
            "sources": sources, "label": label, "safety": safety,
            "scored": any(s.get("score") is not None for s in sources.values()),
            "disagreement": (max(values) - min(values)) if len(values) >= 2 else None,
        }

    def episodes(
        self,
        *,
        source: str = "",
        min_score: int | None = None,
        max_score: int | None = None,
        min_disagreement: int | None = None,
        labelled: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Summaries, newest first, filtered by one source's score ("label" = the human label,
        "oracle_score" = the sim oracle, "" = any score), by disagreement (max - min over every
        score the episode has), and by whether a person labelled it."""
        scores, labels, order = self.scores_by_episode(), self.labels(), self.order()
        out = []
        for eid in reversed(self.episode_ids()):
            item = self.summary(eid, scores=scores, labels=labels, order=order)
            if item is None:
                continue
            if min_score is not None or max_score is not None:
                picked = _scores_of(item, source)
                lo, hi = min_score or 1, max_score or 5
                if not any(lo <= s <= hi for s in picked):
                    continue
            if min_disagreement is not None and (item["disagreement"] or 0) < min_disagreement:
                continue
            if labelled is not None and (item["label"] is not None) != labelled:
                continue
            out.append(item)
        return out

    # ----- the run as a whole -----------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        self.check()
        config = self.config() or {}
        ids = self.episode_ids()
        scores, labels = self.scores_by_episode(), self.labels()
        scored = {eid for eid, s in scores.items() if any(v.get("score") is not None for v in s.values())}
        progress = (self.metrics("progress") or [{}])[-1]
        learner_rows = self.metrics("learner")
        latencies = [float(r["latency_s"]) for r in self.metrics("reward") if r.get("latency_s") is not None]
        env, reward, run_cfg = config.get("env", {}), config.get("reward", {}), config.get("run", {})
        return {
            "run": str(self.root), "name": config.get("name") or self.root.name,
            "problems": self.problems(),
            "config": {
                "name": config.get("name"), "agent_kind": config.get("agent_kind"),
                "robot": env.get("robot"), "task": env.get("task"), "backend": env.get("backend"),
                "reward": reward.get("name"), "reward_options": reward.get("options") or {},
                "episodes_target": run_cfg.get("episodes"), "env_actors": run_cfg.get("env_actors"),
            } if config else None,
            "counts": {
                "collected": len(ids), "target": progress.get("episodes_target", run_cfg.get("episodes")),
                "scored": len(scored & set(ids)), "pending": len(set(ids) - scored),
                "failed_attempts": sum(1 for r in self.rewards() if r.get("score") is None),
                "labelled": len(set(labels) & set(ids)),
            },
            "reward_queue": {
                "pending": progress.get("pending"), "in_flight": progress.get("reward_in_flight"),
                "latency_s": {
                    "n": len(latencies), "last": latencies[-1] if latencies else None,
                    "mean": sum(latencies) / len(latencies) if latencies else None,
                    "p50": _percentile(latencies, 0.5), "p90": _percentile(latencies, 0.9),
                },
            },
            "learner": {
                "version": progress.get("learner_version"),
                "updates": sum(int(r.get("updates") or 0) for r in learner_rows),
                "updates_per_s": learner_rows[-1].get("updates_per_s") if learner_rows else None,
                "last": {k: v for k, v in (learner_rows[-1] if learner_rows else {}).items()
                         if k not in ("kind", "time", "updates", "updates_per_s")},
            },
            "success_rate_last20": progress.get("success_rate_last20"),
            "actors": self.actors(),
            "state": self.state(),
            "paused": self.run.paused(),
        }

    def actors(self) -> list[dict[str, Any]]:
        """Per env actor: episodes stored, its last episode's time and params version."""
        by_actor: dict[Any, dict[str, Any]] = {}
        for row in self.metrics("episode"):
            actor = row.get("actor")
            entry = by_actor.setdefault(actor, {"actor": actor, "episodes": 0})
            entry.update(episodes=entry["episodes"] + 1, last_episode_at=row.get("time"),
                         params_version=row.get("params_version"), last_end_reason=row.get("end_reason"))
        final = (self.metrics("actors") or [{}])[-1].get("utilisation") or []
        for index, util in enumerate(final):
            if isinstance(util, dict):
                by_actor.setdefault(index, {"actor": index, "episodes": 0})["utilisation"] = util.get("utilisation")
        return sorted(by_actor.values(), key=lambda a: (a["actor"] is None, a["actor"] or 0))

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

    def curves(self) -> dict[str, Any]:
        self.check()
        order = self.order()
        episode_rows = sorted(
            ({**r, "episode_index": _index(r, order)} for r in self.metrics("episode") if r.get("is_success") is not None),
            key=lambda r: r["episode_index"],
        )
        success = [[r["episode_index"], float(bool(r["is_success"]))] for r in episode_rows]
        reward_rows = sorted(
            ({**r, "episode_index": _index(r, order)} for r in self.metrics("reward") if r.get("reward") is not None),
            key=lambda r: r["episode_index"],
        )
        reward = [[r["episode_index"], float(r["reward"])] for r in reward_rows]
        progress = self.metrics("progress")
        t0 = progress[0]["time"] if progress else 0.0
        return {
            "success": success, "success_mean": _with_x(success, moving_mean([y for _, y in success])),
            "reward": reward, "reward_mean": _with_x(reward, moving_mean([y for _, y in reward])),
            "queue": [[round(r["time"] - t0, 2), r.get("pending") or 0] for r in progress],
            "latency": [[r["episode_index"], r["latency_s"]] for r in reward_rows if r.get("latency_s") is not None],
        }

    def model_sources(self) -> list[str]:
        """Sources the agreement view can compare with people: model sources, then the sim oracle."""
        seen = {src for per in self.scores_by_episode().values() for src, v in per.items()
                if v.get("score") is not None and src not in HUMAN_SOURCES}
        return sorted(seen) + ["oracle_score"]

    def agreement(self, source: str = "") -> dict[str, Any]:
        """Human labels (web labels, else the `human` source) against `source`'s scores."""
        self.check()
        sources = self.model_sources()
        source = source or sources[0]
        if source not in sources:
            raise ValueError(f"agreement: unknown source {source!r}; this run has {sources}")
        scores, labels = self.scores_by_episode(), self.labels()
        matrix = [[0] * 5 for _ in range(5)]
        pairs = []
        for eid in self.episode_ids():
            human = labels.get(eid, {}).get("score")
            if human is None:
                human = scores.get(eid, {}).get("human", {}).get("score")
            if source == "oracle_score":
                model = (self.meta(eid) or {}).get("oracle_score")
            else:
                model = scores.get(eid, {}).get(source, {}).get("score")
            if human in range(1, 6) and model in range(1, 6):
                matrix[human - 1][model - 1] += 1
                pairs.append({"episode_id": eid, "human": human, "model": model})
        errors = [abs(p["human"] - p["model"]) for p in pairs]
        n = len(pairs)
        return {
            "source": source, "sources": sources, "n": n, "matrix": matrix,
            "mae": sum(errors) / n if n else None,
            "exact": sum(e == 0 for e in errors) / n if n else None,
            "within_one": sum(e <= 1 for e in errors) / n if n else None,
            "bias": sum(p["model"] - p["human"] for p in pairs) / n if n else None,
            "worst": sorted(pairs, key=lambda p: -abs(p["human"] - p["model"]))[:10],
        }


def _scores_of(item: dict[str, Any], source: str) -> list[int]:
    if source == "label":
        return [item["label"]["score"]] if item["label"] else []
    if source == "oracle_score":
        return [item["oracle_score"]] if item["oracle_score"] is not None else []
    if source:
        value = item["sources"].get(source, {}).get("score")
        return [value] if value is not None else []
    values = [s["score"] for s in item["sources"].values() if s.get("score") is not None]
    return values + _scores_of(item, "label") + _scores_of(item, "oracle_score")


def _index(row: dict[str, Any], order: dict[str, int]) -> int:
    """A metrics row's episode index: its own, else the episode's place in the run."""
    if isinstance(row.get("episode_index"), int):
        return row["episode_index"]
    return order.get(row.get("episode_id"), -1)


def _with_x(points: list[list[float]], ys: list[float]) -> list[list[float]]:
    return [[x, y if math.isfinite(y) else None] for (x, _), y in zip(points, ys, strict=True)]
