"""The `Episode` record: one rollout as the reward models and the learner see it.

An episode on disk is a folder with three files, and a fourth when the policy sees cameras:
  video.mp4          the reward camera's frames, H.264 (what a reward model or a person watches)
  episode.npz        the arrays: actions, proprio, states and any extra per-step arrays
  meta.json          everything else: ids, task, fps, oracle score, timing, per-step infos
  policy_images.npz  each policy camera's uint8 images at policy resolution, every step
                     (compressed losslessly: the learner and pretraining see what the policy saw)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from envs.video import decode_mp4, encode_mp4

__all__ = ["Episode", "new_episode_id", "to_jsonable"]

_POLICY_IMAGES = "policy_images.npz"
_EPISODE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def new_episode_id() -> str:
    """A fresh, sortable-by-time episode id such as `20261126T101500-3f2a9c1d`."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def to_jsonable(value: Any) -> Any:
    """Converts numpy scalars and arrays (and containers of them) to plain JSON types."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass
class Episode:
    """One episode: the reward camera's video plus the transitions that produced it.

    Shapes: `frames` (T, H, W, 3) uint8 at `fps`; `actions` (N, A) float32 for N control steps;
    `proprio` (N + 1, P) and `states` (N + 1, S) float32, one row per observation including the
    first. `extra` holds further per-episode arrays (for example the policy's noise for DSRL).
    `policy_images` maps each camera the policy sees to its uint8 (N + 1, H, W, 3) images.
    """

    episode_id: str
    task: str
    frames: np.ndarray
    fps: float
    robot: str = ""
    task_name: str = ""
    actions: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 7), np.float32))
    proprio: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0), np.float32))
    states: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0), np.float32))
    infos: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    oracle_score: int | None = None
    is_success: bool | None = None
    control_hz: float | None = None
    seed: int | None = None
    # Why the episode ended: "time_limit", "success", or a fault such as "camera_lost" (a faulted
    # episode is kept and marked, never scored as if it were normal).
    end_reason: str = "time_limit"
    started_at: float = 0.0
    ended_at: float = 0.0
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    policy_images: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.episode_id or not set(self.episode_id) <= _EPISODE_ID_CHARS:
            raise ValueError(
                f"Episode: episode_id {self.episode_id!r} must be non-empty and use only "
                "letters, digits, '-', '_' and '.' (it names a folder)"
            )
        self.frames = np.asarray(self.frames)
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(
                f"Episode {self.episode_id}: frames must be uint8 (T, H, W, 3), "
                f"got {self.frames.dtype} {self.frames.shape}"
            )
        if not self.fps > 0:
            raise ValueError(f"Episode {self.episode_id}: fps must be positive, got {self.fps}")
        if self.oracle_score is not None and self.oracle_score not in range(1, 6):
            raise ValueError(
                f"Episode {self.episode_id}: oracle_score must be 1-5 or None, got {self.oracle_score}"
            )
        self.actions = np.asarray(self.actions, np.float32)
        self.proprio = np.asarray(self.proprio, np.float32)
        self.states = np.asarray(self.states, np.float32)
        self.policy_images = {name: np.asarray(images) for name, images in self.policy_images.items()}
        for name, images in self.policy_images.items():
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or (
                    len(self.proprio) and len(images) != len(self.proprio)):
                raise ValueError(
                    f"Episode {self.episode_id}: policy_images[{name!r}] must be uint8 "
                    f"(N + 1 = {len(self.proprio)}, H, W, 3), got {images.dtype} {images.shape}"
                )

    @property
    def num_steps(self) -> int:
        return int(len(self.actions))

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)

    def save(self, directory: str | os.PathLike, crf: int = 20) -> Path:
        """Writes the episode folder atomically (a temporary folder renamed into place)."""
        directory = Path(directory)
        if directory.exists():
            raise FileExistsError(f"Episode {self.episode_id}: {directory} already exists")
        partial = directory.with_name(directory.name + ".partial-" + uuid.uuid4().hex[:6])
        partial.mkdir(parents=True)
        (partial / "video.mp4").write_bytes(encode_mp4(self.frames, self.fps, crf=crf))
        arrays = {"actions": self.actions, "proprio": self.proprio, "states": self.states}
        arrays.update({f"extra/{k}": np.asarray(v) for k, v in self.extra.items()})
        with open(partial / "episode.npz", "wb") as f:
            np.savez_compressed(f, **arrays)
        names = ["video.mp4", "episode.npz", "meta.json"]
        if self.policy_images:
            with open(partial / _POLICY_IMAGES, "wb") as f:
                np.savez_compressed(f, **self.policy_images)
            names.append(_POLICY_IMAGES)
        meta = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("frames", "actions", "proprio", "states", "extra", "policy_images")
        }
        meta["num_frames"] = int(len(self.frames))
        meta["frame_size"] = list(self.frames.shape[1:3])
        (partial / "meta.json").write_text(json.dumps(to_jsonable(meta), indent=1))
        for name in names:
            _fsync(partial / name)
        os.rename(partial, directory)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, *, with_video: bool = True) -> Episode:
        """Reads an episode folder written by `save`. Frames come back H.264-decoded (lossy);
        `with_video=False` skips decoding (frames is then empty), for readers of the arrays only."""
        directory = Path(directory)
        missing = [
            n for n in ("video.mp4", "episode.npz", "meta.json") if not (directory / n).is_file()
        ]
        if missing:
            raise FileNotFoundError(f"Episode folder {directory} is missing {', '.join(missing)}")
        meta = json.loads((directory / "meta.json").read_text())
        if with_video:
            frames, _ = decode_mp4(directory / "video.mp4")
        else:
            height, width = meta.get("frame_size", (1, 1))
            frames = np.zeros((0, height, width, 3), np.uint8)
        with np.load(directory / "episode.npz") as npz:
            arrays = {k: npz[k] for k in npz.files}
        extra = {k.removeprefix("extra/"): v for k, v in arrays.items() if k.startswith("extra/")}
        policy_images = {}
        if (directory / _POLICY_IMAGES).is_file():  # episodes from before policy images have none
            with np.load(directory / _POLICY_IMAGES) as npz:
                policy_images = {k: npz[k] for k in npz.files}
        known = {f.name for f in dataclasses.fields(cls)}
        scalars = {k: v for k, v in meta.items() if k in known}
        return cls(
            frames=frames,
            actions=arrays["actions"],
            proprio=arrays["proprio"],
            states=arrays["states"],
            extra=extra,
            policy_images=policy_images,
            **scalars,
        )


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
