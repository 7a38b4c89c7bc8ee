"""Labelled episodes of a run directory, as dataset rows.

    rows, problems = run_rows("runs/widowx-...", prefer=("human", "oracle"))

An episode's label is the first one found in the order of `prefer`:
  human   the label in force from the labelling page (labels.jsonl; an undone label is none)
  oracle  the sim's rubric score of the final state (sim runs only)
  reward  the score the run's reward source gave (rewards.jsonl), e.g. a reward model's
The row's `file_name` is `<robot>_<task>/<episode id>.mp4` (the subset is the robot and task)
and its path the episode folder; `labeller` says where the label came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from experiments.datasets.layout import DatasetRow, RowProblem
from experiments.rundir import RunDir
from reward_clients.human import current_labels

__all__ = ["LABEL_SOURCES", "is_run_dir", "parse_label_sources", "run_rows", "episode_subset"]

LABEL_SOURCES = ("human", "oracle", "reward")


def is_run_dir(path: str | os.PathLike) -> bool:
    """True for a run directory of this project (config.json and episodes/)."""
    path = Path(path)
    return (path / "config.json").is_file() and (path / "episodes").is_dir()


def parse_label_sources(spec: str) -> tuple[str, ...]:
    """"human,oracle" -> ("human", "oracle"); raises ValueError naming an unknown source."""
    sources = tuple(s.strip() for s in spec.split(",") if s.strip())
    unknown = [s for s in sources if s not in LABEL_SOURCES]
    if not sources or unknown:
        raise ValueError(f"labels {spec!r}: expected a comma list of {list(LABEL_SOURCES)}, e.g. human,oracle")
    return sources


def episode_subset(meta: dict[str, Any], fallback: str) -> str:
    robot, task = meta.get("robot") or "", meta.get("task_name") or ""
    return f"{robot}_{task}" if robot and task else fallback


def _human_labels(run: RunDir, problems: list[RowProblem]) -> dict[str, dict[str, Any]]:
    """episode_id -> the label in force: an episode's last labels.jsonl row, where a row with
    score null (the page's undo) leaves it unlabelled (the rule the `human` client reads by)."""
    labels: dict[str, dict[str, Any]] = {}
    for episode_id, row in current_labels(run.labels()).items():
        score = row.get("score")
        if isinstance(score, bool) or score not in range(1, 6):
            problems.append(RowProblem(0, f"labels.jsonl: label {score!r} is not an integer 1-5", episode_id))
            continue
        labels[episode_id] = row
    return labels


def run_rows(
    root: str | os.PathLike, prefer: tuple[str, ...] = ("human", "oracle")
) -> tuple[list[DatasetRow], list[RowProblem]]:
    """The episodes of a run that have a label from `prefer`, and the ones skipped (with why)."""
    run = RunDir(root)
    run.check()
    problems: list[RowProblem] = []
    humans = _human_labels(run, problems) if "human" in prefer else {}
    scored = run.scored() if "reward" in prefer else {}
    rows: list[DatasetRow] = []
    for number, episode_id in enumerate(run.episode_ids(), start=1):
        folder = run.episode_path(episode_id)
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError) as error:
            problems.append(RowProblem(number, f"unreadable meta.json: {error}", episode_id))
            continue
        label = _label(meta, humans.get(episode_id), scored.get(episode_id), prefer)
        if label is None:
            problems.append(RowProblem(number, f"no label from {'/'.join(prefer)}", episode_id))
            continue
        score, labeller = label
        extra = {
            "source": "run",
            "episode_id": episode_id,
            "labeller": labeller,
            "robot": meta.get("robot", ""),
            "task_name": meta.get("task_name", ""),
            "seed": meta.get("seed"),
            "run": run.root.name,
        }
        try:
            rows.append(
                DatasetRow(
                    f"{episode_subset(meta, run.root.name)}/{episode_id}.mp4",
                    str(meta.get("task", "")),
                    score,
                    extra=extra,
                    row=number,
                    path=folder,
                )
            )
        except ValueError as error:
            problems.append(RowProblem(number, str(error), episode_id))
    return rows, problems


def _label(
    meta: dict[str, Any], human: dict[str, Any] | None, reward: dict[str, Any] | None, prefer: tuple[str, ...]
) -> tuple[int, str] | None:
    for source in prefer:
        if source == "human" and human is not None:
            return int(human["score"]), f"human:{human.get('labeller', 'web')}"
        if source == "oracle" and meta.get("oracle_score") in range(1, 6):
            return int(meta["oracle_score"]), "oracle"
        if source == "reward" and reward is not None:
            return int(reward["score"]), f"{reward.get('source', 'reward')}:{reward.get('model', '')}"
    return None
