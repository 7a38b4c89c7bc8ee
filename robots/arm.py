"""The `Arm` interface every robot driver implements, its state record and its exceptions.

    with FrankaArm(ip="<robot ip>") as arm:        # connects; the context closes it
        arm.home()
        for _ in range(steps):
            state = arm.read_state()                # ArmState: joints, pose, gripper, errors
            arm.move_delta(dpos=[0.0, 0.0, 0.01], drpy=[0.0, 0.0, 0.0])
            arm.set_gripper(open_fraction=1.0)
        if arm.read_state().errors:
            arm.recover()

Positions are metres in the robot base frame; orientations are (roll, pitch, yaw) offsets from
the gripper-pointing-down orientation (see robots.transforms). Drivers never clip silently: a
target outside the spec's workspace box or step limits raises `MotionRefused` (the safety layer
in robots.safety clips before commands reach an arm). Motions may be asynchronous: a driver
joins the previous motion (with a timeout) before it starts the next one.
"""

from __future__ import annotations

import abc
import dataclasses
import time

import numpy as np

from robots.specs import ArmSpec

__all__ = [
    "Arm",
    "ArmState",
    "ArmError",
    "ArmConnectionError",
    "ArmTimeout",
    "ArmFault",
    "MotionRefused",
    "IKFailure",
    "MissingDriver",
]


class ArmError(RuntimeError):
    """Base class of everything an arm driver raises about the robot."""


class MissingDriver(ArmError, ImportError):
    """The vendor library for this arm is not installed on this machine."""


class ArmConnectionError(ArmError):
    """No robot answers at the given address, or the connection was lost."""


class ArmTimeout(ArmError):
    """A motion or a gripper command did not finish within its timeout (the arm was stopped)."""


class ArmFault(ArmError):
    """The robot stopped itself (reflex, contact, motor fault); `recover()` is needed."""

    def __init__(self, message: str, errors: tuple[str, ...] = ()):
        super().__init__(message)
        self.errors = tuple(errors)


class MotionRefused(ArmError):
    """The command was not executed (outside the limits, or rejected); the arm holds still."""


class IKFailure(MotionRefused):
    """No joint solution within the joint limits reaches the requested pose."""


@dataclasses.dataclass(frozen=True)
class ArmState:
    """One reading of the arm, taken at `timestamp` (time.monotonic seconds)."""

    joint_positions: np.ndarray  # (num_joints,) rad
    ee_position: np.ndarray  # (3,) m, base frame
    ee_quaternion: np.ndarray  # (4,) x, y, z, w, base frame
    ee_rpy_offset: np.ndarray  # (3,) rad, offset from gripper-down (robots.transforms)
    gripper_width: float  # m between the finger pads
    errors: tuple[str, ...] = ()  # active error names as the robot reports them
    timestamp: float = 0.0

    def __post_init__(self) -> None:
        for name, size in (("ee_position", 3), ("ee_quaternion", 4), ("ee_rpy_offset", 3)):
            value = np.asarray(getattr(self, name), float)
            if value.shape != (size,):
                raise ValueError(f"ArmState: {name} must have shape ({size},), got {value.shape}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "joint_positions", np.asarray(self.joint_positions, float))

    @property
    def ok(self) -> bool:
        return not self.errors


class Arm(abc.ABC):
    """A robot arm with a parallel gripper, commanded in end-effector space."""

    spec: ArmSpec

    def __init__(self, spec: ArmSpec):
        self.spec = spec

    # -- state -------------------------------------------------------------------------------
    @abc.abstractmethod
    def read_state(self) -> ArmState:
        """The current state; raises ArmConnectionError when the robot cannot be read."""

    # -- motion ------------------------------------------------------------------------------
    @abc.abstractmethod
    def move_to_pose(
        self, position, rpy_offset, *, blocking: bool = True, timeout_s: float | None = None
    ) -> None:
        """Moves the end effector to `position` (3,) with orientation `rpy_offset` (3,).

        Raises MotionRefused (outside the workspace), IKFailure (unreachable), ArmFault (the
        robot stopped itself), ArmTimeout. With blocking=False the motion runs in the
        background and is joined before the next command.
        """

    @abc.abstractmethod
    def solve_ik(self, position, rpy_offset) -> np.ndarray:
        """The joints (num_joints,) a motion to this target would command; nothing moves.

        Raises MotionRefused (outside the workspace) and IKFailure (unreachable). The guarded
        arm refuses a target whose joints are inside the spec's joint-limit margins.
        """

    def move_delta(self, dpos, drpy=(0.0, 0.0, 0.0), *, blocking: bool = True) -> None:
        """Moves by a delta no larger than the spec's per-step limits, from the current pose."""
        dpos, drpy = np.asarray(dpos, float), np.asarray(drpy, float)
        if dpos.shape != (3,) or drpy.shape != (3,) or not np.all(np.isfinite([*dpos, *drpy])):
            raise MotionRefused(
                f"{self.spec.name}: delta must be finite (3,) + (3,), got {dpos}, {drpy}"
            )
        if np.max(np.abs(dpos)) > self.spec.max_step_translation + 1e-9:
            raise MotionRefused(
                f"{self.spec.name}: translation step {dpos} exceeds "
                f"{self.spec.max_step_translation} m per axis"
            )
        if np.max(np.abs(drpy)) > self.spec.max_step_rotation + 1e-9:
            raise MotionRefused(
                f"{self.spec.name}: rotation step {drpy} exceeds {self.spec.max_step_rotation} rad"
            )
        state = self.read_state()
        self.move_to_pose(state.ee_position + dpos, state.ee_rpy_offset + drpy, blocking=blocking)

    def check_target(self, position, rpy_offset) -> tuple[np.ndarray, np.ndarray]:
        """Validates an absolute target against the spec; returns it as float arrays."""
        position, rpy_offset = np.asarray(position, float), np.asarray(rpy_offset, float)
        name = self.spec.name
        if position.shape != (3,) or rpy_offset.shape != (3,):
            raise MotionRefused(f"{name}: target must be (3,) + (3,), got {position}, {rpy_offset}")
        if not np.all(np.isfinite(position)) or not np.all(np.isfinite(rpy_offset)):
            raise MotionRefused(f"{name}: target {position}, {rpy_offset} is not finite")
        low, high = np.array(self.spec.workspace_low), np.array(self.spec.workspace_high)
        if np.any(position < low - 1e-6) or np.any(position > high + 1e-6):
            raise MotionRefused(
                f"{name}: target {position.round(4).tolist()} is outside the workspace box "
                f"{list(low)} .. {list(high)}"
            )
        limit = np.array(self.spec.max_orientation_offset)
        if np.any(np.abs(rpy_offset) > limit + 1e-6):
            raise MotionRefused(
                f"{name}: orientation offset {rpy_offset.round(3).tolist()} exceeds {list(limit)}"
            )
        return position, rpy_offset

    # -- gripper -----------------------------------------------------------------------------
    @abc.abstractmethod
    def set_gripper(self, open_fraction: float, *, blocking: bool = True) -> None:
        """Sets the opening: 0 = closed (grasping with the configured force), 1 = fully open."""

    def open_gripper(self) -> None:
        self.set_gripper(1.0)

    def close_gripper(self) -> None:
        self.set_gripper(0.0)

    # -- whole-arm ---------------------------------------------------------------------------
    @abc.abstractmethod
    def home(self) -> None:
        """Moves the joints to `spec.home_joints` (blocking)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stops any motion now; safe to call from another thread and when idle."""

    @abc.abstractmethod
    def recover(self) -> None:
        """Clears errors (reflexes, motor faults) so the arm accepts motions again."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the connection; the arm holds its position."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def now() -> float:
    return time.monotonic()
