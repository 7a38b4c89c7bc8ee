"""Episode media for browsers that cannot play the stored H.264 video, and the final frame.

The page's <video> lists the episode's video.mp4 (H.264) first and a WebM (VP9) transcode second,
so a browser without H.264 (some Chromium builds leave out proprietary codecs) plays the WebM.
The final frame is shown beside the video as a PNG: the rubric judges the final state.
Both are made on demand with PyAV and kept in a small in-memory cache keyed by the file's mtime.
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from envs.video import decode_mp4

__all__ = ["webm_bytes", "final_frame_png", "encode_webm"]


def encode_webm(frames: np.ndarray, fps: float) -> bytes:
    """uint8 frames (T, H, W, 3) -> a VP9 WebM (yuv420p, so sizes are rounded up to even)."""
    height, width = (int(n) + int(n) % 2 for n in frames.shape[1:3])
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for image in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@functools.lru_cache(maxsize=32)
def _webm(path: str, _mtime_ns: int) -> bytes:
    frames, fps = decode_mp4(path)
    return encode_webm(frames, fps or 5.0)


@functools.lru_cache(maxsize=128)
def _final_png(path: str, _mtime_ns: int) -> bytes:
    frames, _ = decode_mp4(path)
    buffer = io.BytesIO()
    Image.fromarray(frames[-1]).save(buffer, format="PNG")
    return buffer.getvalue()


def webm_bytes(video_path: Path) -> bytes:
    """The episode video as WebM; raises ValueError when the mp4 cannot be decoded."""
    return _webm(str(video_path), video_path.stat().st_mtime_ns)


def final_frame_png(video_path: Path) -> bytes:
    """The episode video's last frame as a PNG; raises ValueError when it cannot be decoded."""
    return _final_png(str(video_path), video_path.stat().st_mtime_ns)
