"""make-dataset's row collector: writes each video, and adds negatives for episodes labelled 5.

    augmenter = Augmenter(writer, clips=2, clip_labeller="oracle", fps=5.0, size=(128, 128), rng=rng)
    for row, mp4, episode in items:
        augmenter.add(row, mp4, episode)       # writes the video, cuts and labels clips
    augmenter.flush()                          # clips waiting for a model's labels
    augmenter.counterfactuals(config)          # checked counterfactual instructions

Clip labels come from the sim oracle (the score at the clip's last frame), from a reward client
(`clip_client`), or from people: with "queue" the clips are saved as episodes of a run directory
(`queue_dir`) for the labelling page, and a later `make-dataset --from-run <queue_dir>` exports
them with their human labels. A clip is never given a label nobody measured.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import numpy as np

import reward_clients
from envs.episode import Episode
from experiments.datasets.clipping import MIN_CLIP_FRAMES, choose_clips, clip_episode, frame_scores
from experiments.datasets.counterfactual import CounterfactualConfig, Relabeller
from experiments.datasets.layout import DatasetRow, SplitWriter
from experiments.datasets.sources import KEPT_FIELDS, encode_episode
from experiments.rundir import RunDir

__all__ = ["Augmenter"]

SUCCESS = 5


class Augmenter:
    """Collects a dataset's rows while writing their videos; see the module docstring."""

    def __init__(
        self, writer: SplitWriter, *, clips: int = 0, clip_labeller: str = "oracle",
        clip_client: tuple[str, dict[str, Any]] | None = None, fps: float | None = None,
        size: tuple[int, int] | None = None, rng: np.random.Generator | None = None,
        queue_dir: str | os.PathLike | None = None, source_run: str | os.PathLike | None = None,
        max_concurrency: int = 8,
    ) -> None:
        if clip_labeller not in ("oracle", "queue") and clip_client is None and clips:
            raise ValueError(f"clips labelled by {clip_labeller!r} need that client's settings")
        if clip_labeller == "queue" and queue_dir is None and clips:
            raise ValueError("clips for the labelling queue need a queue_dir")
        self.writer, self.clips, self.clip_labeller = writer, clips, clip_labeller
        self.fps, self.size = fps, size
        self.rng = rng or np.random.default_rng(0)
        self.queue_dir, self.source_run = queue_dir, source_run
        self.max_concurrency = max_concurrency
        self.rows: list[DatasetRow] = []
        self.notes: collections.Counter[str] = collections.Counter()
        self._client_spec = clip_client
        self._client: reward_clients.RewardClient | None = None
        self._pending: list[tuple[DatasetRow, Episode]] = []
        self._queue: RunDir | None = None

    def add(self, row: DatasetRow, mp4: bytes, episode: Episode | None) -> None:
        self.writer.add_video(row.file_name, mp4)
        self.rows.append(row)
        if not self.clips or row.reward != SUCCESS:
            return
        if episode is None:
            raise ValueError(f"row {row.file_name}: clipping needs the episode's frames")
        self._clip(row, episode)

    def _clip(self, parent: DatasetRow, episode: Episode) -> None:
        scores = frame_scores(episode)
        if self.clip_labeller == "oracle":
            if scores is None:
                self.notes["episodes not clipped: no per-step oracle (say --clip-labeller queue or a model)"] += 1
                return
            have = collections.Counter(row.reward for row in self.rows)
            ends = choose_clips(scores, self.clips, have, self.rng)
        else:
            # Without an oracle nobody knows the scores yet: cut at evenly spaced points.
            last = len(episode.frames) - 2
            ends = sorted({min(last, max(MIN_CLIP_FRAMES - 1, round(len(episode.frames) * j / (self.clips + 1))))
                           for j in range(1, self.clips + 1)}) if last >= MIN_CLIP_FRAMES - 1 else []
        for end in ends:
            clip = clip_episode(episode, end, scores)
            if self.clip_labeller == "oracle":
                self._add_clip(parent, clip, int(clip.oracle_score), "oracle")
            elif self.clip_labeller == "queue":
                self._enqueue(clip)
            else:
                self._pending.append((parent, clip))
                if len(self._pending) >= 4 * self.max_concurrency:
                    self.flush()

    def _add_clip(self, parent: DatasetRow, clip: Episode, score: int, labeller: str) -> None:
        extra = {key: parent.extra[key] for key in KEPT_FIELDS if key in parent.extra}
        extra.update(source="clip", labeller=labeller, clip_of=parent.file_name,
                     clip_end_frame=clip.metadata["clip_end_frame"], clip_end_step=clip.metadata["clip_end_step"])
        row = DatasetRow(f"{parent.subset}/{clip.episode_id}.mp4", parent.task, score, extra=extra)
        self.writer.add_video(row.file_name, encode_episode(clip, self.fps, self.size))
        self.rows.append(row)
        self.notes[f"clips labelled by {labeller.split(':')[0]}"] += 1

    def _enqueue(self, clip: Episode) -> None:
        if self._queue is None:
            self._queue = RunDir(self.queue_dir).create()
            source = RunDir(self.source_run) if self.source_run is not None else None
            config = source.read_config() if source is not None else {"name": "label-queue"}
            self._queue.write_config({**config, "label_queue": {"made_by": "rrl make-dataset",
                                                                "source_run": str(self.source_run or "")}})
        clip.save(self._queue.episode_path(clip.episode_id))
        self.notes[f"clips queued for labelling in {Path(self.queue_dir)}"] += 1

    def flush(self) -> None:
        """Labels the clips waiting for the reward client."""
        if not self._pending:
            return
        if self._client is None:
            name, settings = self._client_spec
            self._client = reward_clients.make(name, **settings)
        results = self._client.score_many([clip for _, clip in self._pending], max_concurrency=self.max_concurrency)
        for (parent, clip), result in zip(self._pending, results, strict=True):
            if result.score is None:
                self.notes["clips left out: the labeller gave no score"] += 1
            else:
                self._add_clip(parent, clip, result.score, f"{result.source}:{result.model}")
        self._pending.clear()

    def counterfactuals(self, config: CounterfactualConfig) -> None:
        """Rows with checked counterfactual instructions for every row labelled 5 (same video)."""
        parents = [row for row in self.rows if row.reward == SUCCESS and row.source in ("sim", "run", "")]
        relabeller = Relabeller(config)
        try:
            outcomes = relabeller.relabel_many([row.task for row in parents])
        finally:
            relabeller.close()
        for parent, outcome in zip(parents, outcomes, strict=True):
            if outcome.error:
                self.notes["counterfactual: episodes without usable proposals"] += 1
            for proposal in outcome.proposals:
                self.notes["counterfactual proposals"] += 1
                if not proposal.kept:
                    self.notes["counterfactual proposals rejected by the check"] += 1
                    continue
                extra = {key: parent.extra[key] for key in KEPT_FIELDS if key in parent.extra}
                extra.update(source="counterfactual", labeller=f"counterfactual:{config.checker}",
                             original_task=parent.task, counterfactual_of=parent.file_name,
                             proposer_model=config.model, checker_model=config.checker)
                row = DatasetRow(f"{parent.file_name.removesuffix('.mp4')}-cf{proposal.score}.mp4", proposal.task,
                                 proposal.score, extra=extra)
                self.writer.link_video(row.file_name, parent.file_name)
                self.rows.append(row)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
