"""Published limits of the supported arms and the tabletop workspace each one is used in.

One source of truth for the sim twins, the real drivers and the safety layer, so a policy that
trains in sim sees the same clipping as on the robot. Kinematics come from shared/ROBOTS.md
(Franka's modified DH table; Trossen's wx250s description).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["ArmSpec", "FRANKA", "WIDOWX", "ARM_SPECS", "arm_spec"]


@dataclasses.dataclass(frozen=True)
class ArmSpec:
    """Limits of one arm and the action scaling of its 7-D end-effector delta action."""

    # Robot name as used in envs.make and the configs.
    name: str
    # Joint position limits (rad), one (low, high) pair per arm joint.
    joint_limits: tuple[tuple[float, float], ...]
    # Joint velocity limits (rad/s).
    joint_velocity_limits: tuple[float, ...]
    # Joint configuration at reset ("home"): gripper pointing down above the table centre.
    home_joints: tuple[float, ...]
    # Allowed tool-centre-point box in the robot base frame (m): (x, y, z) lows and highs.
    workspace_low: tuple[float, float, float]
    workspace_high: tuple[float, float, float]
    # Largest end-effector translation per control step (m), reached at |action| = 1.
    max_step_translation: float
    # Largest end-effector rotation per control step (rad) about each axis, at |action| = 1.
    max_step_rotation: float
    # Allowed deviation of (roll, pitch, yaw) from the gripper-down orientation (rad).
    max_orientation_offset: tuple[float, float, float]
    # Gripper opening range (m, distance between the finger pads).
    gripper_min: float
    gripper_max: float
    # Keep this far (rad) inside each joint limit when commanding joints.
    joint_limit_margin: float = 0.05

    def __post_init__(self) -> None:
        n = len(self.joint_limits)
        if not len(self.joint_velocity_limits) == len(self.home_joints) == n:
            raise ValueError(f"ArmSpec {self.name}: joint tables must all have {n} entries")
        if any(lo >= hi for lo, hi in zip(self.workspace_low, self.workspace_high, strict=True)):
            raise ValueError(f"ArmSpec {self.name}: workspace_low must be below workspace_high")

    @property
    def num_joints(self) -> int:
        return len(self.joint_limits)

    @property
    def joint_low(self) -> np.ndarray:
        return np.array([lo for lo, _ in self.joint_limits])

    @property
    def joint_high(self) -> np.ndarray:
        return np.array([hi for _, hi in self.joint_limits])


_PI = math.pi

FRANKA = ArmSpec(
    name="franka",
    joint_limits=(
        (-2.8973, 2.8973),
        (-1.7628, 1.7628),
        (-2.8973, 2.8973),
        (-3.0718, -0.0698),
        (-2.8973, 2.8973),
        (-0.0175, 3.7525),
        (-2.8973, 2.8973),
    ),
    joint_velocity_limits=(2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61),
    # The research "ready" pose: TCP about (0.307, 0, 0.487), pointing down.
    home_joints=(0.0, -_PI / 4, 0.0, -3 * _PI / 4, 0.0, _PI / 2, _PI / 4),
    # Reachable with the gripper pointing down everywhere inside (checked on a grid with the IK
    # and the joint-limit margins); larger boxes reach poses the arm cannot take.
    workspace_low=(0.30, -0.30, 0.005),
    workspace_high=(0.65, 0.30, 0.45),
    max_step_translation=0.05,
    max_step_rotation=0.2,
    max_orientation_offset=(0.5, 0.5, _PI / 2),
    gripper_min=0.0,
    gripper_max=0.08,
)

WIDOWX = ArmSpec(
    name="widowx",
    joint_limits=(
        (-_PI, _PI),
        (math.radians(-108), math.radians(114)),
        (math.radians(-123), math.radians(92)),
        (-_PI, _PI),
        (math.radians(-100), math.radians(123)),
        (-_PI, _PI),
    ),
    joint_velocity_limits=(_PI,) * 6,
    # Gripper pointing down with the fingertips about (0.3, 0, 0.15): BridgeData's start pose.
    home_joints=(0.0, 0.022, 0.1831, 0.0, 1.3657, 0.0),
    workspace_low=(0.15, -0.25, 0.01),
    workspace_high=(0.48, 0.25, 0.35),
    # BridgeData V2 clips actions to +-0.05 m and +-0.25 rad per step.
    max_step_translation=0.05,
    max_step_rotation=0.25,
    max_orientation_offset=(0.5, 0.5, _PI / 2),
    gripper_min=0.030,
    gripper_max=0.074,
)

ARM_SPECS = {spec.name: spec for spec in (FRANKA, WIDOWX)}


def arm_spec(robot: str) -> ArmSpec:
    """The spec of a robot by name, with a clear error for unknown names."""
    try:
        return ARM_SPECS[robot]
    except KeyError:
        raise ValueError(f"unknown robot {robot!r}; expected one of {sorted(ARM_SPECS)}") from None
