"""Cameras as the robot env sees them: the records, the errors, the `Camera` interface and a rig.

    specs = parse_camera_specs("front=123622270136,wrist=recordings/wrist.db3", 640, 480, 30)
    with CameraRig(specs, RealSenseCamera) as rig:      # or robots.cameras.realsense_rig(specs)
        frames = rig.read()                   # MultiFrame: newest frame per camera + time skew
        image = frames["front"].image         # uint8 (480, 640, 3) RGB

Nothing here imports a camera SDK; the RealSense backend is robots.cameras.realsense.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = [
    "Camera", "CameraRig", "CameraSpec", "Frame", "MultiFrame", "CameraStats", "parse_camera_specs",
    "CameraError", "CameraNotFound", "CameraTimeout", "CameraStale", "CameraEnded",
]  # fmt: skip

RECORDING_SUFFIXES = (".db3", ".bag")
_HOST_CLOCK_DOMAINS = ("global_time", "system_time")


class CameraError(RuntimeError):
    """Base class of camera failures; messages start with the camera's name."""


class CameraNotFound(CameraError):
    """No camera with that serial (the message lists the connected ones), or no such recording."""


class CameraTimeout(CameraError):
    """No frame arrived in time, and reconnecting did not help."""


class CameraStale(CameraError):
    """The newest frame is older than the staleness limit."""


class CameraEnded(CameraError):
    """A recording has played to its end."""


@dataclasses.dataclass(frozen=True)
class CameraSpec:
    name: str
    # A serial number, or the path of a recording (.db3 / .bag).
    source: str
    width: int = 640
    height: int = 480
    fps: int = 30
    warmup_frames: int = 5  # read and dropped after start (auto-exposure settles)
    stale_after_s: float = 0.5  # a newer frame must have arrived within this time
    frame_timeout_s: float = 1.0  # wait for a frame this long before counting a stall
    max_reconnects: int = 2  # hardware resets (or restarts of a recording) after stalls
    reconnect_timeout_s: float = 10.0  # wait this long for a reset camera to come back
    serial: str | None = None  # for a recording: the serial the recorded device must have
    real_time: bool = True  # for a recording: play at the recorded rate
    loop: bool = False  # for a recording: start again at the end (dry runs) instead of ending

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", str(self.source))
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError(f"camera {self.name}: width, height, fps must be positive, got {self}")
        if not self.stale_after_s > 0 or not self.frame_timeout_s > 0:
            raise ValueError(f"camera {self.name}: stale_after_s and frame_timeout_s must be > 0")
        suffix = Path(self.source).suffix
        if (
            ("/" in self.source or suffix)
            and suffix not in RECORDING_SUFFIXES
            and not self.source.isdigit()
        ):
            raise ValueError(
                f"camera {self.name}: source {self.source!r} is neither a serial number nor a "
                f"recording ending in {RECORDING_SUFFIXES}"
            )

    @property
    def is_recording(self) -> bool:
        return Path(self.source).suffix in RECORDING_SUFFIXES


def parse_camera_specs(
    text: str, width: int = 640, height: int = 480, fps: int = 30, **kwargs
) -> list[CameraSpec]:
    """ "name=source,source,..." -> CameraSpecs; unnamed ones are called cam0, cam1, ..."""
    specs = []
    for i, item in enumerate(p.strip() for p in text.split(",") if p.strip()):
        name, _, source = item.rpartition("=")
        specs.append(CameraSpec(name or f"cam{i}", source, width, height, fps, **kwargs))
    if not specs:
        raise ValueError(
            f"no camera in {text!r}; give serial numbers or recording paths, comma-separated"
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"camera names must be unique, got {names}")
    return specs


@dataclasses.dataclass(frozen=True)
class Frame:
    camera: str
    image: np.ndarray  # uint8 (H, W, 3) RGB
    frame_number: int
    device_timestamp_ms: float  # in `timestamp_domain`'s clock
    timestamp_domain: str  # "global_time" / "system_time" are host-clock milliseconds
    arrival_time: float  # time.time() when the frame reached this process
    arrival_monotonic: float

    @property
    def capture_time(self) -> float | None:
        """Host-clock capture time (s) when the device timestamps are in the host's clock."""
        return (
            self.device_timestamp_ms / 1000.0
            if self.timestamp_domain in _HOST_CLOCK_DOMAINS
            else None
        )


@dataclasses.dataclass(frozen=True)
class MultiFrame:
    frames: dict[str, Frame]
    skew_s: float  # spread of the frames' capture (or arrival) times
    skew_source: str  # "capture" when all cameras timestamp in the host clock, else "arrival"

    def __getitem__(self, name: str) -> Frame:
        return self.frames[name]


@dataclasses.dataclass(frozen=True)
class CameraStats:
    name: str
    width: int
    height: int
    fps: float  # configured
    measured_fps: float
    latency_ms: float | None  # capture -> arrival; None when the device clock is not the host's
    frames: int


class Camera(Protocol):
    """One camera as a device class: open it (or use it as a context manager), read the newest
    frame, close it. `read()` raises CameraTimeout, CameraStale or CameraEnded, never returns an
    old frame. RealSense is the backend here (robots.cameras.realsense)."""

    spec: CameraSpec

    def open(self) -> Camera: ...

    def read(self, *, wait_new: bool = False) -> Frame: ...

    def close(self) -> None: ...


class CameraRig:
    """Several cameras opened together (all or none) and read together.

        with CameraRig(specs, RealSenseCamera) as rig:
            frames = rig.read()          # MultiFrame: newest frame per camera + time skew
    """

    def __init__(self, specs: list[CameraSpec], make_camera: Callable[[CameraSpec], Camera]):
        self.specs = list(specs)
        self.make_camera = make_camera
        self.cameras: dict[str, Camera] = {}

    def open(self) -> CameraRig:
        try:
            for spec in self.specs:
                self.cameras[spec.name] = self.make_camera(spec).open()
        except BaseException:
            self.close()
            raise
        return self

    def read(self, *, wait_new: bool = False) -> MultiFrame:
        frames = {name: cam.read(wait_new=wait_new) for name, cam in self.cameras.items()}
        captures = [f.capture_time for f in frames.values()]
        if all(c is not None for c in captures):
            times, source = captures, "capture"
        else:
            times, source = [f.arrival_time for f in frames.values()], "arrival"
        return MultiFrame(frames, float(max(times) - min(times)), source)

    def close(self) -> None:
        for cam in self.cameras.values():
            cam.close()
        self.cameras.clear()

    def __enter__(self) -> CameraRig:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
