"""The clip a reward model watches: the episode's frames sub-sampled, resized and H.264-encoded.

Sub-sampling is even over the episode and always keeps the last frame, because the rubric judges
the final state. The clip keeps the episode's duration: n frames drawn from T frames at E fps are
played at n * E / T fps, so a model that reads timestamps sees the real pace.
"""

from __future__ import annotations

import base64
import dataclasses
import math

import numpy as np

from envs.episode import Episode
from envs.video import encode_mp4, subsample_indices

__all__ = ["VideoSpec", "Clip", "make_clip"]


@dataclasses.dataclass(frozen=True)
class VideoSpec:
    """How episodes are turned into the clip sent to a model."""

    # Frames per second to sample at (at most the episode's own rate); None keeps every frame.
    fps: float | None = 2.0
    # Upper bound on the frames sent, whatever the episode's length.
    max_frames: int = 32
    # Output (height, width) in pixels; None keeps the camera's size. Odd sizes are rounded up to
    # even ones by the encoder (yuv420p needs that).
    resolution: tuple[int, int] | None = None
    # x264 constant rate factor: lower is better quality and more bytes (18-28 is sensible).
    crf: int = 20

    def __post_init__(self) -> None:
        if self.fps is not None and not (isinstance(self.fps, int | float) and 0 < self.fps < math.inf):
            raise ValueError(f"video: fps must be a finite number > 0 or None, got {self.fps!r}")
        if not isinstance(self.max_frames, int) or self.max_frames < 1:
            raise ValueError(f"video: max_frames must be an int >= 1, got {self.max_frames!r}")
        if self.resolution is not None:
            resolution = tuple(self.resolution)
            if len(resolution) != 2 or not all(isinstance(v, int) and 16 <= v <= 4096 for v in resolution):
                raise ValueError(
                    f"video: resolution must be (height, width) ints in 16..4096 or None, got {self.resolution!r}"
                )
            object.__setattr__(self, "resolution", resolution)
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ValueError(f"video: crf must be an int in 0..51, got {self.crf!r}")


@dataclasses.dataclass(frozen=True)
class Clip:
    """An encoded clip: mp4 bytes plus what was sampled."""

    mp4: bytes
    # Playback rate of the clip (keeps the episode's duration).
    fps: float
    # Which episode frames went in, in order; the last is always the episode's last frame.
    indices: np.ndarray
    # (height, width) of the encoded frames.
    size: tuple[int, int]

    @property
    def num_frames(self) -> int:
        return int(len(self.indices))

    def base64(self) -> str:
        return base64.b64encode(self.mp4).decode("ascii")


def sample_count(num_frames: int, episode_fps: float, spec: VideoSpec) -> int:
    """How many frames to send for an episode of `num_frames` at `episode_fps`."""
    if spec.fps is None or spec.fps >= episode_fps:
        wanted = num_frames
    else:
        # Frames at spec.fps spanning the same time as the episode, both ends included.
        wanted = int(math.floor((num_frames - 1) * spec.fps / episode_fps + 1e-9)) + 1
    return max(1, min(wanted, spec.max_frames, num_frames))


def make_clip(episode: Episode, spec: VideoSpec) -> Clip:
    """Sub-samples and encodes the episode's frames as an H.264 (yuv420p) mp4."""
    num_frames = len(episode.frames)
    if num_frames == 0:
        raise ValueError(f"video: episode {episode.episode_id} has no frames to score")
    indices = subsample_indices(num_frames, sample_count(num_frames, episode.fps, spec))
    fps = episode.fps * len(indices) / num_frames
    size = spec.resolution or tuple(int(v) for v in episode.frames.shape[1:3])
    mp4 = encode_mp4(episode.frames[indices], fps, size=size, crf=spec.crf)
    return Clip(mp4=mp4, fps=fps, indices=indices, size=(size[0] + size[0] % 2, size[1] + size[1] % 2))
