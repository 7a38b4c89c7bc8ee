"""Cameras: the records, errors and rig in `camera`, the RealSense backend in `realsense`."""

from robots.cameras.camera import (
    Camera,
    CameraEnded,
    CameraError,
    CameraNotFound,
    CameraRig,
    CameraSpec,
    CameraStale,
    CameraStats,
    CameraTimeout,
    Frame,
    MultiFrame,
    parse_camera_specs,
)
from robots.cameras.realsense import RealSenseCamera, connected_serials, realsense_rig

__all__ = [
    "Camera", "CameraEnded", "CameraError", "CameraNotFound", "CameraRig", "CameraSpec", "CameraStale",
    "CameraStats", "CameraTimeout", "Frame", "MultiFrame", "RealSenseCamera", "connected_serials",
    "parse_camera_specs", "realsense_rig",
]  # fmt: skip
