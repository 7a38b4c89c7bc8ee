"""H.264 mp4 encoding and decoding with PyAV.

One implementation for every video the project writes: episode videos on disk and the clips sent
to reward models. libx264 with yuv420p is what vLLM's and Gemini's video loaders read reliably
(see shared/PROTOCOLS.md); yuv420p needs even frame sizes, so odd sizes are rounded up.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["encode_mp4", "decode_mp4", "subsample_indices"]


def _even(n: int) -> int:
    return n + (n % 2)


def encode_mp4(
    frames: np.ndarray,
    fps: float,
    size: tuple[int, int] | None = None,
    crf: int = 20,
) -> bytes:
    """Encodes uint8 frames (T, H, W, 3) as an H.264 (yuv420p) mp4 and returns its bytes.

    `size` is the output (height, width); frames are scaled by FFmpeg's swscale when it differs.
    The encoding is deterministic for the same frames and settings, so its bytes can key a cache.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"video: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    if len(frames) == 0:
        raise ValueError("video: cannot encode an empty episode (0 frames)")
    if not fps > 0:
        raise ValueError(f"video: fps must be positive, got {fps}")
    height, width = size if size is not None else frames.shape[1:3]
    height, width = _even(int(height)), _even(int(width))
    rate = Fraction(fps).limit_denominator(1000)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        # Identical bytes for identical frames (the reward cache keys on them): one thread, and
        # no macroblock-tree rate control, whose lookahead over the end of a short clip made
        # repeated encodes of the same frames differ (seen on 4-frame clips).
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1",
                          "x264-params": "mbtree=0"}
        stream.codec_context.thread_count = 1
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame = frame.reformat(width=width, height=height, format="yuv420p")
            frame.pts = index  # explicit timestamps: the rate control reads frame durations
            frame.time_base = Fraction(1) / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def decode_mp4(source: bytes | str | Path) -> tuple[np.ndarray, float]:
    """Decodes an mp4 (bytes or path) into uint8 frames (T, H, W, 3) and its frame rate."""
    handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else str(source)
    try:
        with av.open(handle, mode="r") as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.base_rate or 0)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError) as error:
        raise ValueError(
            f"video: cannot decode {source if handle is not source else 'bytes'}: {error}"
        ) from error
    if not frames:
        raise ValueError("video: the file holds no frames")
    return np.stack(frames), fps


def subsample_indices(num_frames: int, max_frames: int) -> np.ndarray:
    """Evenly spaced frame indices, at most `max_frames`, always ending on the last frame.

    The reward rubric judges the final state, so the last frame must never be dropped.
    """
    if num_frames <= 0:
        raise ValueError(f"video: need at least one frame, got {num_frames}")
    if max_frames <= 0:
        raise ValueError(f"video: max_frames must be positive, got {max_frames}")
    if num_frames <= max_frames:
        return np.arange(num_frames)
    return np.unique(np.round(np.linspace(0, num_frames - 1, max_frames)).astype(int))
