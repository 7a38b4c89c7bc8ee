"""The labelling queue behind the web page: leases, durable labels, undo.

    desk = LabelDesk(view)
    item = desk.next(page="tab-1")                 # leases the next unlabelled episode to this page
    desk.label("tab-1", item["episode_id"], 4)     # appended to labels.jsonl and fsynced first
    desk.undo("tab-1", item["episode_id"])         # appends a retraction; the episode is leased back

Two open pages never get the same episode: `next` leases an episode to one page for `lease_s`
(renewed by the page's heartbeat), and `label` checks, under an exclusive `flock` on labels.jsonl
(so a second dashboard process on the same run is covered too), that nobody labelled it since.
labels.jsonl stays append-only: an undo is a row with `score` null, and the label in force is an
episode's last row (`reward_clients.human.current_labels`), the same rule the `human` client's web
mode reads. Episodes waiting for a reward come first, oldest first; then the model-scored ones,
whose labels feed the agreement view. An episode whose meta.json cannot be used is never offered
and cannot be labelled.

Undo takes back only the page's own label (the page that gave the label in force, as this desk
recorded it) and only within `undo_window_s` of giving it: the run's settle time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from experiments.dashboard.runview import RunView
from reward_clients.human import HumanConfig, current_labels

__all__ = ["LabelDesk", "LabelConflict", "NotYourLabel", "EpisodeNotFound", "LEASE_S"]

# Seconds a page holds an episode without a heartbeat (the page beats every 15 s).
LEASE_S = 60.0
# A repeated request for a label already stored this recently, with the same score and labeller,
# is the same label (a retry after a lost response), not a conflict.
RETRY_WINDOW_S = 120.0


class LabelConflict(Exception):
    """The label cannot be written as asked (labelled elsewhere, leased to another page, already
    used by the run); the message says what happened and that nothing was written."""


class NotYourLabel(LabelConflict):
    """An undo from a page that did not give the label in force; nothing was written."""


class EpisodeNotFound(KeyError):
    """No complete episode with this id in the run directory."""

    def __str__(self) -> str:
        return str(self.args[0])


class LabelDesk:
    """Hands out episodes to label and writes labels; thread-safe."""

    def __init__(self, view: RunView, lease_s: float = LEASE_S):
        self.view = view
        self.lease_s = float(lease_s)
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}  # episode id -> (page, expires at)
        # episode id -> (page, label time) of the labels given through this desk, until they settle
        self._given: dict[str, tuple[str, float]] = {}

    # ----- what the run asks for --------------------------------------------------------------
    def human_settings(self) -> dict[str, Any]:
        """The run's `human` reward settings, or {} when its reward is not a person."""
        reward = (self.view.config() or {}).get("reward") or {}
        return dict(reward.get("options") or {}) if reward.get("name") == "human" else {}

    def mode(self) -> str:
        return str(self.human_settings().get("mode", "score"))

    def allowed_scores(self) -> tuple[int, ...]:
        return (1, 5) if self.mode() == "success" else (1, 2, 3, 4, 5)

    def undo_window_s(self) -> float:
        """How long after labelling the page may undo: the settle time (`labels_settle_s` of the
        run's `human` reward, else its default); a second less when the run's `human` client reads
        the labels (web mode), so an undo never races it taking the label."""
        settings = self.human_settings()
        settle = float(settings.get("labels_settle_s", HumanConfig.labels_settle_s))
        if settings.get("web") or settings.get("labels_file"):
            return max(0.0, settle - 1.0)
        return settle

    # ----- leases -----------------------------------------------------------------------------
    def _expire(self, now: float) -> None:
        for eid in [e for e, (_, until) in self._leases.items() if until <= now]:
            del self._leases[eid]

    def _held_by_other(self, page: str, episode_id: str, now: float) -> bool:
        holder = self._leases.get(episode_id)
        return holder is not None and holder[0] != page and holder[1] > now

    def _release_page(self, page: str) -> None:
        for eid in [e for e, (p, _) in self._leases.items() if p == page]:
            del self._leases[eid]

    def next(self, page: str, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Leases the next episode to label to `page` (releasing what it held) and returns it with
        the queue's state; `episode` is None when nothing is waiting."""
        # An episode whose meta.json cannot be used is not offered (the episode list marks it).
        ids = [eid for eid in self.view.episode_ids() if self.view.meta(eid) is not None]
        labels = current_labels(self.view.run.labels())
        scored = {eid for eid, per in self.view.scores_by_episode().items()
                  if any(v.get("score") is not None for v in per.values())}
        unlabelled = [eid for eid in ids if eid not in labels]
        queue = [eid for eid in unlabelled if eid not in scored] + [eid for eid in unlabelled if eid in scored]
        now = time.time()
        with self._lock:
            self._expire(now)
            self._release_page(page)
            leased = sum(1 for eid in queue if self._held_by_other(page, eid, now))
            pick = next((eid for eid in queue
                         if eid not in exclude and not self._held_by_other(page, eid, now)), None)
            if pick is not None:
                self._leases[pick] = (page, now + self.lease_s)
        return {
            "episode": self._item(pick) if pick else None,
            "queue": {"unlabelled": len(unlabelled), "waiting_for_reward": len(set(unlabelled) - scored),
                      "leased_elsewhere": leased, "skipped": len(exclude & set(unlabelled))},
            "lease_s": self.lease_s,
        }

    def _item(self, episode_id: str) -> dict[str, Any]:
        meta = self.view.meta(episode_id)
        return {"episode_id": episode_id, "task": meta.task if meta else "", "robot": meta.robot if meta else "",
                "num_frames": meta.num_frames if meta else None, "fps": meta.fps if meta else None,
                "index": self.view.order().get(episode_id)}

    def heartbeat(self, page: str, episode_id: str) -> dict[str, Any]:
        """Renews the page's lease; a conflict when another page or a label took the episode."""
        self._require(episode_id)
        if episode_id in current_labels(self.view.run.labels()):
            raise LabelConflict(f"episode {episode_id} has been labelled meanwhile (on another page)")
        now = time.time()
        with self._lock:
            self._expire(now)
            if self._held_by_other(page, episode_id, now):
                raise LabelConflict(f"episode {episode_id} is being labelled on another page; take the next one")
            self._leases[episode_id] = (page, now + self.lease_s)
        return {"episode_id": episode_id, "lease_s": self.lease_s}

    def release(self, page: str, episode_id: str) -> None:
        with self._lock:
            holder = self._leases.get(episode_id)
            if holder is not None and holder[0] == page:
                del self._leases[episode_id]

    # ----- labels -----------------------------------------------------------------------------
    def _require(self, episode_id: str) -> None:
        if episode_id not in self.view.episode_ids():
            raise EpisodeNotFound(f"no episode {episode_id!r} in {self.view.root} (a stale page?)")

    def check_score(self, score: Any) -> int:
        allowed = self.allowed_scores()
        if isinstance(score, bool) or not isinstance(score, int) or score not in allowed:
            what = "1 (failure) or 5 (success)" if allowed == (1, 5) else "an integer 1-5"
            raise ValueError(f"label: score must be {what}, got {score!r}; nothing was written")
        return score

    @contextlib.contextmanager
    def _locked_labels(self) -> Iterator[dict[str, dict[str, Any]]]:
        """Holds an exclusive flock on labels.jsonl (other dashboards too) and yields the labels
        in force, read under the lock."""
        path = self.view.root / "labels.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield current_labels(self.view.run.labels())
        finally:
            os.close(fd)  # closing releases the lock

    def label(self, page: str, episode_id: str, score: Any, labeller: str = "web") -> dict[str, Any]:
        """Writes a label durably (fsync) and returns its row; raises LabelConflict, ValueError or
        EpisodeNotFound without writing anything."""
        score = self.check_score(score)
        self._require(episode_id)
        problem = self.view.meta_problem(episode_id)
        if problem is not None:
            raise LabelConflict(f"episode {episode_id} cannot be labelled: {problem}; your label was not written")
        with self._lock:
            self._expire(time.time())
            if self._held_by_other(page, episode_id, time.time()):
                raise LabelConflict(f"episode {episode_id} is being labelled on another page; "
                                    "your label was not written")
        with self._locked_labels() as labels:
            existing = labels.get(episode_id)
            if existing is not None:
                if (existing.get("score") == score and existing.get("labeller") == labeller
                        and time.time() - float(existing.get("time") or 0) < RETRY_WINDOW_S):
                    return {**existing, "repeated": True}
                raise LabelConflict(
                    f"episode {episode_id} was already labelled {existing.get('score')} by "
                    f"{existing.get('labeller') or 'someone'} (this page was out of date); "
                    "your label was not written"
                )
            self.view.run.append_label(episode_id, score, labeller)
            row = current_labels(self.view.run.labels())[episode_id]
        self.release(page, episode_id)
        now, window = time.time(), self.undo_window_s()
        with self._lock:
            self._given = {e: g for e, g in self._given.items() if now - g[1] <= window}
            self._given[episode_id] = (page, row["time"])
        return row

    def undo(self, page: str, episode_id: str, labeller: str = "web") -> dict[str, Any]:
        """Takes back the label of `episode_id` (a retraction row) and leases the episode back
        to `page`. Refused (LabelConflict) once the run took the label as its reward or
        `undo_window_s` has passed, and (NotYourLabel) unless `page` gave it through this desk."""
        self._require(episode_id)
        window = self.undo_window_s()
        with self._locked_labels() as labels:
            existing = labels.get(episode_id)
            if existing is None:
                raise LabelConflict(f"episode {episode_id} has no label to undo (already undone?)")
            used = self.view.scores_by_episode().get(episode_id, {}).get("human", {}).get("score")
            if used is not None:
                raise LabelConflict(f"the run has already taken the label of episode {episode_id} as its "
                                    "reward (recorded in rewards.jsonl); it can no longer be undone")
            stamp = existing.get("time")
            age = time.time() - stamp if isinstance(stamp, int | float) else float("inf")
            if age > window:
                raise LabelConflict(
                    f"episode {episode_id} was labelled {age:.1f} s ago and undo closes after {window:g} s "
                    "(the label has settled: reward.labels_settle_s); it can no longer be undone"
                )
            with self._lock:
                given = self._given.get(episode_id)
            if given != (page, stamp):
                raise NotYourLabel(
                    f"episode {episode_id}: its label {existing.get('score')} by "
                    f"{existing.get('labeller') or 'someone'} was given on another page (or through another "
                    "dashboard, or before this one restarted); only the page that gave it can undo it, "
                    "and nothing was written"
                )
            self.view.run.retract_label(episode_id, labeller)
        with self._lock:
            self._given.pop(episode_id, None)
            self._release_page(page)
            self._leases[episode_id] = (page, time.time() + self.lease_s)
        return {"episode": self._item(episode_id), "undone": existing}
