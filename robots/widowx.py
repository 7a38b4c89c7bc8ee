"""Trossen WidowX 250 6DOF through the Interbotix X-Series Python API (ROS 2).

    with WidowXArm(moving_time_s=0.2) as arm:       # needs the xs_sdk node running (see README)
        arm.home()                                  # spec.home_joints: BridgeData's start pose
        arm.move_delta([0.0, 0.0, -0.02])
        arm.set_gripper(0.0)
        arm.sleep()                                 # Interbotix sleep pose before power-off

`interbotix_xs_modules` is imported only here, when a WidowXArm is made. A pose target is solved
with the SDK's IK without executing (`set_ee_pose_matrix(execute=False)`); a failed solve raises
IKFailure, a solution inside the joint-limit margins raises MotionRefused, and only then are the
joint positions published. A motion is verified when it is joined (before the next command, or
at once when blocking): joints that did not reach their command are checked against the motors'
Hardware_Error_Status registers, and a faulted motor raises ArmFault; recover() reboots the
faulted motors (smart reboot, torque back on) and re-reads the joint positions.
"""

from __future__ import annotations

import importlib
import logging
import time

import numpy as np

from robots.arm import (
    Arm,
    ArmConnectionError,
    ArmFault,
    ArmState,
    IKFailure,
    MissingDriver,
    MotionRefused,
    now,
)
from robots.specs import WIDOWX, ArmSpec
from robots.transforms import matrix_to_quat, offset_from_rotation, rotation_from_offset

__all__ = ["WidowXArm"]

log = logging.getLogger(__name__)

_SETUP_HINT = (
    "install Trossen's Interbotix ROS 2 packages, source /opt/ros/<distro>/setup.bash and "
    "~/interbotix_ws/install/setup.bash, and start the xs_sdk node (README, robot-host set-up)"
)


def import_interbotix():
    try:
        return importlib.import_module("interbotix_xs_modules.xs_robot.arm")
    except ImportError as e:
        raise MissingDriver(
            f"widowx: interbotix_xs_modules is not importable ({e}); {_SETUP_HINT}"
        ) from e


class WidowXArm(Arm):
    """A WidowX 250 6DOF (wx250s) with its gripper, driven in joint space after IK."""

    def __init__(
        self,
        *,
        spec: ArmSpec = WIDOWX,
        robot_model: str = "wx250s",
        robot_name: str | None = None,
        moving_time_s: float = 0.2,
        accel_time_s: float = 0.1,
        home_time_s: float = 2.0,
        gripper_delay_s: float = 0.5,
        tracking_tolerance: float = 0.05,
        reboot_attempts: int = 2,
    ):
        super().__init__(spec)
        if not 0 < 2 * accel_time_s <= moving_time_s:
            raise ValueError(
                f"widowx: need 0 < 2 * accel_time_s <= moving_time_s, got {accel_time_s}, {moving_time_s}"
            )
        self.moving_time_s, self.accel_time_s, self.home_time_s = (
            moving_time_s,
            accel_time_s,
            home_time_s,
        )
        self.gripper_delay_s = gripper_delay_s
        self.tracking_tolerance = tracking_tolerance
        self.reboot_attempts = reboot_attempts
        sdk = import_interbotix()
        try:
            self._bot = sdk.InterbotixManipulatorXS(
                robot_model=robot_model,
                group_name="arm",
                gripper_name="gripper",
                robot_name=robot_name,
                moving_time=moving_time_s,
                accel_time=accel_time_s,
            )
        except SystemExit as e:  # the SDK exits when the xs_sdk services are missing
            raise ArmConnectionError(
                f"widowx: the xs_sdk node for {robot_model} is not running; {_SETUP_HINT}"
            ) from e
        self._shutdown = getattr(self._robot_module(), "robot_shutdown", None) or self._bot.shutdown
        startup = getattr(self._robot_module(), "robot_startup", None)
        if startup is not None:  # newer ROS 2 releases start the executor explicitly
            startup()
        self._joint_names = list(self._bot.arm.group_info.joint_names)
        self._pending: tuple[np.ndarray, float] | None = None  # (commanded joints, done-by time)
        self._faults: tuple[str, ...] = ()
        self._gripper_open: bool | None = None

    @staticmethod
    def _robot_module():
        try:
            return importlib.import_module("interbotix_common_modules.common_robot.robot")
        except ImportError:
            return None

    # -- state -------------------------------------------------------------------------------
    def _joints(self) -> np.ndarray:
        core = self._bot.core
        with core.js_mutex:
            positions = list(core.joint_states.position)
        return np.array([positions[core.js_index_map[n]] for n in self._joint_names])

    def read_state(self) -> ArmState:
        core = self._bot.core
        try:
            joints = self._joints()
            pose = np.asarray(self._bot.arm.get_ee_pose())
            with core.js_mutex:
                finger = float(core.joint_states.position[core.js_index_map["left_finger"]])
        except (AttributeError, KeyError, TypeError) as e:  # no joint_states yet / node gone
            raise ArmConnectionError(f"widowx: cannot read the joint states: {e}") from e
        return ArmState(
            joint_positions=joints,
            ee_position=pose[:3, 3],
            ee_quaternion=matrix_to_quat(pose[:3, :3]),
            ee_rpy_offset=offset_from_rotation("widowx", pose[:3, :3]),
            gripper_width=2.0 * finger,
            errors=self._faults,
            timestamp=now(),
        )

    def motor_errors(self) -> dict[str, int]:
        """Nonzero Hardware_Error_Status registers by joint name (a ROS service round trip)."""
        values = self._bot.core.robot_get_motor_registers("group", "arm", "Hardware_Error_Status")
        if values is None:
            raise ArmConnectionError("widowx: no answer reading Hardware_Error_Status")
        names = (
            self._joint_names
            if len(values) == len(self._joint_names)
            else [f"motor{i}" for i in range(len(values))]
        )
        return {n: int(v) for n, v in zip(names, values, strict=True) if int(v)}

    # -- motion ------------------------------------------------------------------------------
    def _join(self) -> None:
        if self._pending is None:
            return
        command, done_by = self._pending
        self._pending = None
        time.sleep(max(0.0, done_by - now()))
        deadline = now() + 0.5  # the servos settle a little after the profile ends
        while True:
            error = np.abs(self._joints() - command)
            if np.all(error <= self.tracking_tolerance) or now() > deadline:
                break
            time.sleep(0.02)
        if np.all(error <= self.tracking_tolerance):
            return
        faults = self.motor_errors()
        lagging = [
            n for n, e in zip(self._joint_names, error, strict=True) if e > self.tracking_tolerance
        ]
        self._faults = tuple(
            f"motor_fault:{n}:0x{code:02x}" for n, code in faults.items()
        ) or tuple(f"tracking:{n}" for n in lagging)
        raise ArmFault(
            f"widowx: joints {lagging} did not reach their command; {list(self._faults)}",
            self._faults,
        )

    def _publish(self, joints: np.ndarray, moving_time: float, *, blocking: bool) -> None:
        ok = self._bot.arm.set_joint_positions(
            joints.tolist(), moving_time=moving_time, accel_time=self.accel_time_s, blocking=False
        )
        if not ok:
            raise MotionRefused(
                f"widowx: the SDK refused joints {joints.round(3).tolist()} (limits)"
            )
        self._pending = (joints, now() + moving_time)
        if blocking:
            self._join()

    def solve_ik(self, position, rpy_offset) -> np.ndarray:
        """The SDK's IK solution, seeded with the current joints (nothing is published)."""
        position, rpy_offset = self.check_target(position, rpy_offset)
        target = np.eye(4)
        target[:3, :3], target[:3, 3] = rotation_from_offset("widowx", rpy_offset), position
        theta, success = self._bot.arm.set_ee_pose_matrix(
            target, custom_guess=self._joints().tolist(), execute=False, blocking=False
        )
        if not success:
            raise IKFailure(
                f"widowx: the IK solver found no solution for {position.round(4).tolist()}"
            )
        return np.asarray(theta, float)

    def move_to_pose(self, position, rpy_offset, *, blocking=True, timeout_s=None) -> None:
        position, rpy_offset = self.check_target(position, rpy_offset)
        self._join()
        if self._faults:
            raise MotionRefused(
                f"widowx: faults {list(self._faults)} are active; call recover() first"
            )
        theta = self.solve_ik(position, rpy_offset)
        margin = self.spec.joint_limit_margin
        inside = (theta >= self.spec.joint_low + margin) & (theta <= self.spec.joint_high - margin)
        if not np.all(inside):
            bad = [self._joint_names[i] for i in np.flatnonzero(~inside)]
            raise MotionRefused(
                f"widowx: IK solution puts {bad} within {margin} rad of their limits"
            )
        moving_time = (
            self.moving_time_s if timeout_s is None else min(self.moving_time_s, timeout_s)
        )
        self._publish(theta, moving_time, blocking=blocking)

    def home(self) -> None:
        self._join()
        self._publish(np.array(self.spec.home_joints), self.home_time_s, blocking=True)

    def sleep(self) -> None:
        """The Interbotix sleep pose (arm folded on its rest), for power-off."""
        self._join()
        self._bot.arm.go_to_sleep_pose(moving_time=self.home_time_s, blocking=True)

    def stop(self) -> None:
        """Holds the current joint positions (the servos have no separate stop command)."""
        self._pending = None
        try:
            self._bot.core.robot_write_commands("arm", self._joints().tolist())
            self._bot.arm.capture_joint_positions()
        except (AttributeError, KeyError, TypeError) as e:
            log.warning("widowx: stop() could not hold the position: %s", e)

    def recover(self) -> None:
        self._pending = None
        remaining: dict[str, int] = {}
        for _ in range(self.reboot_attempts):
            self._bot.core.robot_reboot_motors("group", "arm", True, smart_reboot=True)
            time.sleep(0.1)
            remaining = self.motor_errors()
            if not remaining:
                break
        if remaining:
            raise ArmFault(
                f"widowx: motors {sorted(remaining)} still faulted after {self.reboot_attempts} reboots; "
                "power-cycle the arm",
                tuple(sorted(remaining)),
            )
        self._bot.arm.capture_joint_positions()
        self._faults = ()

    # -- gripper -----------------------------------------------------------------------------
    def set_gripper(self, open_fraction: float, *, blocking: bool = True) -> None:
        """Binary: >= 0.5 opens (release), below closes (grasp) with the configured pressure."""
        if not 0.0 <= open_fraction <= 1.0:
            raise ValueError(f"widowx: open_fraction must be in [0, 1], got {open_fraction}")
        want_open = open_fraction >= 0.5
        if want_open == self._gripper_open:
            return
        delay = self.gripper_delay_s if blocking else 0.0
        if want_open:
            self._bot.gripper.release(delay)
        else:
            self._bot.gripper.grasp(delay)
        self._gripper_open = want_open

    def close(self) -> None:
        try:
            self._join()
        except ArmFault as e:
            log.warning("widowx: while closing: %s", e)
        finally:
            self._shutdown()
