"""`rrl check-hardware`: is the robot reachable, and do the cameras deliver frames in time?

    rrl check-hardware --robot franka --ip 172.16.0.2 --cameras front=123622270136,wrist=130322272869
    rrl check-hardware --robot widowx --cameras 123622270136
    rrl check-hardware --cameras recordings/front.db3          # cameras only (recordings work)

Prints the arm's state (joints, end-effector pose, gripper, errors) and for each camera its
resolution, configured and measured fps and capture-to-arrival latency, then the time skew when
all cameras are read together. Every part is checked even when another fails; each failure gets
one line saying what is wrong, and the exit code is 1 if anything failed (2 for bad arguments).
Nothing moves: the arm is only read.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from robots.arm import ArmError
from robots.cameras import (
    CameraError,
    CameraStale,
    CameraTimeout,
    RealSenseCamera,
    parse_camera_specs,
    realsense_rig,
)
from robots.specs import ARM_SPECS

__all__ = ["main"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rrl check-hardware",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--robot", choices=tuple(ARM_SPECS), help="the arm to check (optional)")
    parser.add_argument("--ip", help="the Franka's FCI address (required with --robot franka)")
    parser.add_argument("--cameras", default="", help="[name=]serial-or-recording, comma-separated")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=30, help="frames to measure per camera")
    parser.add_argument("--stale-after", type=float, default=0.5, help="seconds (staleness limit)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a frame")
    parser.add_argument("--connect-timeout", type=float, default=3.0, help="seconds (robot)")
    args = parser.parse_args(argv)
    if args.robot == "franka" and not args.ip:
        parser.error("--robot franka needs --ip <the robot's FCI address>")
    if not args.robot and not args.cameras:
        parser.error("nothing to check: give --robot and/or --cameras")
    if args.frames < 2:
        parser.error(f"--frames must be >= 2, got {args.frames}")
    return args


def check_arm(args) -> list[str]:
    """Prints the arm's state; returns the failure messages."""
    try:
        if args.robot == "franka":
            from robots.franka import FrankaArm

            arm = FrankaArm(args.ip, connect_timeout_s=args.connect_timeout)
        else:
            from robots.widowx import WidowXArm

            arm = WidowXArm()
        with arm:
            state = arm.read_state()
    except ArmError as e:
        return [str(e)]
    np.set_printoptions(precision=4, suppress=True)
    print(f"arm {args.robot}:")
    print(f"  joints (rad)       {state.joint_positions}")
    print(f"  end effector (m)   {state.ee_position}")
    print(f"  rpy offset (rad)   {state.ee_rpy_offset}")
    print(f"  gripper width (m)  {state.gripper_width:.4f}")
    print(f"  errors             {', '.join(state.errors) if state.errors else 'none'}")
    if state.errors:
        return [f"{args.robot}: the robot reports errors {list(state.errors)}; recover it first"]
    return []


def check_cameras(args) -> list[str]:
    try:
        specs = parse_camera_specs(
            args.cameras,
            args.width,
            args.height,
            args.fps,
            stale_after_s=args.stale_after,
            frame_timeout_s=args.timeout,
            max_reconnects=1,
        )
    except ValueError as e:
        return [str(e)]
    failures, working = [], []
    for spec in specs:
        try:
            with RealSenseCamera(spec) as cam:
                stats = cam.measure(frames=args.frames)
        except (CameraTimeout, CameraStale) as e:
            failures.append(f"{e} (the camera stalls)")
            continue
        except CameraError as e:
            failures.append(str(e))
            continue
        working.append(spec)
        latency = "n/a (device clock)" if stats.latency_ms is None else f"{stats.latency_ms:.1f} ms"
        source = "recording" if spec.is_recording else "serial"
        print(
            f"camera {spec.name} ({source} {spec.source}): {stats.width}x{stats.height}, "
            f"{stats.fps:g} fps configured, {stats.measured_fps:.1f} fps measured, latency {latency}"
        )
    if len(working) > 1:
        try:
            with realsense_rig(working) as rig:
                multi = rig.read(wait_new=True)
            print(
                f"cameras together: skew {1000 * multi.skew_s:.1f} ms ({multi.skew_source} times)"
            )
        except CameraError as e:
            failures.append(str(e))
    return failures


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    failures = []
    if args.robot:
        failures += check_arm(args)
    if args.cameras:
        failures += check_cameras(args)
    for message in failures:
        print(f"FAILED {message}", file=sys.stderr)
    print("hardware check: " + ("OK" if not failures else f"{len(failures)} problem(s)"))
    return 1 if failures else 0
