"""Where make-dataset's labelled videos come from: the sim twins, or a run directory.

Both yield `(row, mp4 bytes, episode)` one at a time; the episode (frames, per-step infos) is
there for clipping, and is None for a run's episode that needs no frames (its video is copied).

    for row, mp4, episode in sim_items("widowx", "pick_place", episodes=10, noises=(0.0, 0.4), ...):
        writer.add_video(row.file_name, mp4)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import envs
from envs.episode import Episode
from experiments.datasets.layout import DatasetRow
from experiments.datasets.runs import run_rows
from experiments.training.rollouts import expert_episode
from reward_clients.media import VideoSpec, make_clip

__all__ = ["Item", "sim_items", "run_items", "encode_episode", "KEPT_FIELDS"]

Item = tuple[DatasetRow, bytes, Episode | None]
# Fields an augmented row inherits from its source row.
KEPT_FIELDS = ("robot", "task_name", "seed", "noise", "run", "labeller")


def encode_episode(episode: Episode, fps: float | None, size: tuple[int, int] | None) -> bytes:
    """The episode's frames as an H.264 mp4, sub-sampled to `fps` (its duration kept; None keeps
    every frame) and scaled to `size` (None keeps the camera's)."""
    return make_clip(episode, VideoSpec(fps=fps, max_frames=1_000_000, resolution=size)).mp4


def sim_items(
    robot: str, task: str, *, episodes: int, noises: tuple[float, ...], seed: int, fps: float,
    size: tuple[int, int], camera: str = "front",
) -> Iterator[Item]:
    """Scripted-expert episodes in the sim twin, noise levels in turn, labelled by the oracle.
    Episode i uses seed `seed + i` for the scene and the expert, so a dataset is reproducible."""
    env = envs.make(robot, task, cameras=(camera,), image_size=size)
    current = {"id": ""}
    recorder = envs.EpisodeRecorder(env, camera=camera, fps=fps, episode_id_fn=lambda: current["id"])
    try:
        for index in range(episodes):
            episode_seed, noise = seed + index, noises[index % len(noises)]
            current["id"] = f"sim-{episode_seed:06d}"
            episode = expert_episode(recorder, noise, episode_seed)
            extra = {
                "source": "sim", "robot": robot, "task_name": task, "seed": episode_seed, "noise": noise,
                "episode_id": episode.episode_id, "labeller": "oracle", "is_success": episode.is_success,
            }
            row = DatasetRow(f"{robot}_{task}/{episode.episode_id}.mp4", episode.task, episode.oracle_score,
                             extra=extra)
            yield row, encode_episode(episode, fps, size), episode
    finally:
        env.close()


def run_items(
    run_dir: str | os.PathLike, prefer: tuple[str, ...], *, fps: float | None, size: tuple[int, int] | None,
    frames_for_score: int | None,
) -> Iterator[Item]:
    """A run's labelled episodes. Videos are copied as they are unless `fps` or `size` asks for a
    re-encode; the episode is loaded when re-encoding or when its label is `frames_for_score`."""
    rows, problems = run_rows(run_dir, prefer)
    for problem in problems:
        print(f"make-dataset: {Path(run_dir).name}: skipping {problem}", file=sys.stderr)
    reencode = fps is not None or size is not None
    for row in rows:
        assert row.path is not None, "run rows carry their episode folder"
        episode = None
        if reencode or row.reward == frames_for_score:
            episode = Episode.load(row.path)
        if reencode:
            mp4 = encode_episode(episode, fps, size)
        else:
            mp4 = (row.path / "video.mp4").read_bytes()
        yield row, mp4, episode
