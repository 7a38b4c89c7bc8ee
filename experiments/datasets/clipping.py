"""Temporal clipping: partial-progress negatives cut from successful episodes (RoboReward's recipe).

A clip is the episode from its first frame up to an earlier frame k. In sim its label is the
progress oracle on the state at frame k, which the episode already holds: `EpisodeRecorder`
keeps every control step's `info["progress_score"]` (the oracle on that step's state), and
`frame_steps` replays the recorder's frame schedule to know which step each frame shows.

    scores = frame_scores(episode)                     # oracle score at each frame (0 = frame 0)
    for k in choose_clips(scores, 2, counts, rng):
        clip = clip_episode(episode, k)                # clip.oracle_score == scores[k] < 5
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from envs.episode import Episode

__all__ = ["frame_steps", "frame_scores", "choose_clips", "clip_episode", "MIN_CLIP_FRAMES"]

# A clip shows at least this many frames (a single frame is not a video of an attempt).
MIN_CLIP_FRAMES = 2


def frame_steps(episode: Episode) -> np.ndarray | None:
    """The control step each frame was taken at (0 = the reset observation), as EpisodeRecorder
    schedules them; None when the episode's timing does not reproduce its frame count."""
    hz, steps = episode.control_hz, episode.num_steps
    if not hz or steps == 0:
        return None
    taken: list[int] = []
    for step in range(steps + 1):
        slot = math.floor(step * episode.fps / hz + 1e-9)
        previous = math.floor((step - 1) * episode.fps / hz + 1e-9)
        if step == 0 or slot > previous or step == steps:
            taken.append(step)
    return np.array(taken) if len(taken) == len(episode.frames) else None


def frame_scores(episode: Episode) -> np.ndarray | None:
    """The oracle's score (1-5) of the state at each frame; 0 for frame 0 (the reset state has
    no recorded info). None when the episode has no per-step oracle (a real robot's episode)."""
    steps = frame_steps(episode)
    infos = episode.infos
    if steps is None or len(infos) != episode.num_steps:
        return None
    if not all(isinstance(info, Mapping) and info.get("progress_score") in range(1, 6) for info in infos):
        return None
    return np.array([0] + [int(infos[step - 1]["progress_score"]) for step in steps[1:]])


def choose_clips(
    scores: np.ndarray, count: int, have: Mapping[int, int], rng: np.random.Generator, below: int = 5
) -> list[int]:
    """End frames of up to `count` clips with distinct scores below `below`, the scores the
    dataset has least of (`have`: score -> rows so far) first; the frame for a score is drawn
    among the frames showing it. The clip never ends on the episode's last frame."""
    ends = np.arange(MIN_CLIP_FRAMES - 1, len(scores) - 1)
    by_score: dict[int, np.ndarray] = {}
    for score in range(1, below):
        frames = ends[scores[ends] == score]
        if len(frames):
            by_score[score] = frames
    order = sorted(by_score, key=lambda s: (have.get(s, 0), s))[:count]
    return sorted(int(rng.choice(by_score[s])) for s in order)


def clip_episode(episode: Episode, end_frame: int, scores: np.ndarray | None = None) -> Episode:
    """The episode cut after frame `end_frame`, transitions included when the frame schedule is
    known; its oracle_score is `scores[end_frame]` when given."""
    if not MIN_CLIP_FRAMES - 1 <= end_frame < len(episode.frames) - 1:
        raise ValueError(
            f"clip of {episode.episode_id}: end_frame {end_frame} must be in "
            f"[{MIN_CLIP_FRAMES - 1}, {len(episode.frames) - 2}] (a shorter video than the episode)"
        )
    steps = frame_steps(episode)
    step = int(steps[end_frame]) if steps is not None else None
    arrays = {}
    if step is not None:
        arrays = {
            "actions": episode.actions[:step],
            "proprio": episode.proprio[: step + 1],
            "states": episode.states[: step + 1] if len(episode.states) else episode.states,
            "infos": list(episode.infos[:step]),
            # The policy's view up to the clip's last frame, as the clip's transitions.
            "policy_images": {name: images[: step + 1] for name, images in episode.policy_images.items()},
        }
    else:
        arrays = {"actions": episode.actions[:0], "proprio": episode.proprio[:0], "states": episode.states[:0],
                  "infos": [], "policy_images": {}}
    score = int(scores[end_frame]) if scores is not None and scores[end_frame] in range(1, 6) else None
    return dataclasses.replace(
        episode,
        episode_id=f"{episode.episode_id}-clip{end_frame:03d}",
        frames=episode.frames[: end_frame + 1],
        oracle_score=score,
        is_success=None if score is None else score == 5,
        end_reason="clipped",
        extra={},
        metadata={**episode.metadata, "clip_of": episode.episode_id, "clip_end_frame": end_frame,
                  "clip_end_step": step},
        **arrays,
    )
