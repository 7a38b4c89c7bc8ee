"""Cameras: the records, errors and rig in `camera`, the RealSense backend in `realsense`."""

from robots.cameras import camera
from robots.cameras.camera import *  # noqa: F403 (the interface module's public names, as listed in its __all__)
from robots.cameras.realsense import RealSenseCamera, connected_serials, realsense_rig

__all__ = [*camera.__all__, "RealSenseCamera", "connected_serials", "realsense_rig"]
