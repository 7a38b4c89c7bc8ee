"""Franka Panda / FR3 through franky-control (the optional `franka` extra).

    with FrankaArm("<robot-ip>", relative_dynamics_factor=0.2) as arm:
        arm.home()
        arm.move_delta([0.0, 0.0, -0.02])
        arm.set_gripper(0.0)                    # grasp with `grasp_force_n`

Cartesian waypoint motions (franky.CartesianMotion, absolute targets) are sent asynchronously
and joined, with a timeout, before the next command. Each motion carries a force reaction: when
the estimated external force on any axis reaches `force_limit_n` the motion is replaced by a stop
and the driver raises ArmFault (recover() clears it). Targets are checked against the spec's
workspace box and by a damped-least-squares IK within the joint-limit margins before anything
is sent: a real Franka answers an unreachable Cartesian target with a reflex.

franky's libfranka client needs a real-time kernel on a real robot (realtime=True); franky-sim
and non-RT machines use realtime=False. franky-control >= 2.0 is MIT licensed; versions before
2.0 are LGPL-3.0.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np

from robots.arm import (
    Arm,
    ArmConnectionError,
    ArmFault,
    ArmState,
    ArmTimeout,
    IKFailure,
    MissingDriver,
    MotionRefused,
    now,
)
from robots.specs import FRANKA, ArmSpec
from robots.transforms import franka_ik, matrix_to_quat, offset_from_rotation, rotation_from_offset

__all__ = ["FrankaArm", "FCI_PORT", "import_franky"]

log = logging.getLogger(__name__)
FCI_PORT = 1337  # libfranka's command port on the robot's FCI interface
# Further IK seeds (reaching low and reaching far), tried only when the current joints and home
# do not converge: damped least squares can stall in a local minimum near the joint limits.
_EXTRA_SEEDS = (
    np.array([0.0, 0.3, 0.0, -2.4, 0.0, 2.7, np.pi / 4]),
    np.array([0.0, -0.3, 0.0, -1.8, 0.0, 1.6, np.pi / 4]),
)


def import_franky():
    try:
        import franky
    except ImportError as e:
        raise MissingDriver(
            "franka: the franky-control package is not installed; install the optional extra "
            "with `pip install -e .[franka]` (see the README's robot-host section)"
        ) from e
    return franky


def probe_fci(ip: str, timeout_s: float) -> None:
    """Raises ArmConnectionError unless something accepts TCP on ip:1337 within timeout_s."""
    try:
        socket.create_connection((ip, FCI_PORT), timeout=timeout_s).close()
    except OSError as e:
        raise ArmConnectionError(
            f"franka: no robot answers at {ip}:{FCI_PORT} within {timeout_s:.1f} s ({e}); "
            "check the address, the cable and that FCI is activated in Desk"
        ) from e


class FrankaArm(Arm):
    """A Franka arm and its hand. `ip` is required: there is no default robot address.

    gripper_threshold: open fractions at or above it open the hand fully, below it grasp; None
    moves the fingers to the commanded width instead (each change is a ~0.5 s gripper motion).
    ik_check: solve the IK within the joint-limit margins before each motion (the guarded arm
    solves it for every step regardless).
    """

    def __init__(
        self,
        ip: str,
        *,
        spec: ArmSpec = FRANKA,
        relative_dynamics_factor: float = 0.2,
        force_limit_n: float | None = 30.0,
        grasp_force_n: float = 20.0,
        gripper_speed: float = 0.1,
        gripper_threshold: float | None = 0.5,
        motion_timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        realtime: bool = False,
        ik_check: bool = True,
        gripper: bool = True,
    ):
        super().__init__(spec)
        if not isinstance(ip, str) or not ip:
            raise ValueError(f"franka: ip must be a non-empty address string, got {ip!r}")
        if not 0.0 < relative_dynamics_factor <= 1.0:
            raise ValueError(
                f"franka: relative_dynamics_factor must be in (0, 1], got {relative_dynamics_factor}"
            )
        if force_limit_n is not None and force_limit_n < 0:
            raise ValueError(f"franka: force_limit_n must be >= 0 or None, got {force_limit_n}")
        self._franky = import_franky()
        fr = self._franky
        self.ip = ip
        self.force_limit_n = force_limit_n
        self.grasp_force_n = float(grasp_force_n)
        self.gripper_speed = float(gripper_speed)
        self.gripper_threshold = gripper_threshold
        self.motion_timeout_s = float(motion_timeout_s)
        self.ik_check = ik_check
        self._contact = threading.Event()
        self._stop_requested = threading.Event()
        self._motion_pending = False
        self._gripper_future = None
        self._gripper_target: float | None = None
        probe_fci(ip, connect_timeout_s)
        rt = fr.RealtimeConfig.Enforce if realtime else fr.RealtimeConfig.Ignore
        try:
            self._robot = fr.Robot(ip, realtime_config=rt)
            self._robot.relative_dynamics_factor = relative_dynamics_factor
            self._gripper = fr.Gripper(ip) if gripper else None
        except (fr.NetworkException, fr.IncompatibleVersionException, fr.RealtimeException) as e:
            raise ArmConnectionError(f"franka: cannot connect to {ip}: {e}") from e

    # -- state -------------------------------------------------------------------------------
    def _error_names(self, state) -> tuple[str, ...]:
        errors = state.current_errors
        names = [
            n for n in dir(type(errors)) if not n.startswith("_") and getattr(errors, n) is True
        ]
        mode = state.robot_mode.name
        if mode in ("Reflex", "UserStopped", "Other"):
            names.append(f"robot_mode_{mode}")
        return tuple(names)

    def read_state(self) -> ArmState:
        fr = self._franky
        try:
            state = self._robot.state
            width = self._gripper.width if self._gripper is not None else 0.0
        except fr.NetworkException as e:
            raise ArmConnectionError(f"franka: lost the connection to {self.ip}: {e}") from e
        pose = state.O_T_EE
        rotation = pose.matrix[:3, :3]
        return ArmState(
            joint_positions=np.array(state.q),
            ee_position=np.array(pose.translation),
            ee_quaternion=np.array(pose.quaternion),
            ee_rpy_offset=offset_from_rotation("franka", rotation),
            gripper_width=float(width),
            errors=self._error_names(state) + (("contact",) if self._contact.is_set() else ()),
            timestamp=now(),
        )

    # -- motion ------------------------------------------------------------------------------
    def _join(self, timeout_s: float) -> None:
        """Waits for the running motion; maps franky's exceptions to ours."""
        if not self._motion_pending:
            return
        try:
            finished = self._guard(lambda: self._robot.join_motion(timeout=timeout_s))
        finally:
            self._motion_pending = False
        if not finished:
            self.stop()
            raise ArmTimeout(f"franka: motion did not finish within {timeout_s:.1f} s; stopped")
        if self._contact.is_set():
            raise ArmFault(
                f"franka: external force reached {self.force_limit_n} N; the motion was stopped",
                ("contact",),
            )

    def _guard(self, call):
        fr = self._franky
        try:
            return call()
        except fr.ControlException as e:
            if self._stop_requested.is_set() and "preempted" in str(e):
                return True  # our own stop() ended the motion: not a fault
            errors = self._error_names(self._robot.state)
            raise ArmFault(f"franka: motion aborted by the robot: {e}", errors) from e
        except fr.CommandException as e:
            raise MotionRefused(f"franka: command rejected: {e} (call recover())") from e
        except fr.NetworkException as e:
            raise ArmConnectionError(f"franka: lost the connection to {self.ip}: {e}") from e
        except RuntimeError as e:  # franky's motion planner (ruckig) failures
            raise MotionRefused(f"franka: motion could not be planned: {e}") from e

    def _start_motion(self, motion) -> None:
        """Starts `motion` asynchronously. The preemption of a motion we stopped can surface at
        this call (franky reports asynchronous errors at the next move): then start again."""
        for _ in range(2):
            if self._guard(lambda: self._robot.move(motion, asynchronous=True)) is None:
                break
        self._stop_requested.clear()

    def _add_force_reaction(self, motion) -> None:
        if self.force_limit_n is None:
            return
        fr, limit = self._franky, self.force_limit_n
        condition = None
        for measure in (fr.Measure.FORCE_X, fr.Measure.FORCE_Y, fr.Measure.FORCE_Z):
            axis = (measure >= limit) | (measure <= -limit)
            condition = axis if condition is None else condition | axis
        reaction = fr.Reaction(condition, fr.CartesianStopMotion())
        reaction.register_callback(lambda *_: self._contact.set())
        motion.add_reaction(reaction)

    def move_to_pose(self, position, rpy_offset, *, blocking=True, timeout_s=None) -> None:
        position, rpy_offset = self.check_target(position, rpy_offset)
        timeout_s = self.motion_timeout_s if timeout_s is None else float(timeout_s)
        self._join(timeout_s)
        if self._contact.is_set():
            raise MotionRefused("franka: a contact stop is active; call recover() first")
        rotation = rotation_from_offset("franka", rpy_offset)
        if self.ik_check:
            self.solve_ik(position, rpy_offset)
        fr = self._franky
        target = fr.Affine(position, matrix_to_quat(rotation))
        motion = fr.CartesianMotion(target, fr.ReferenceType.Absolute)
        self._add_force_reaction(motion)
        self._start_motion(motion)
        self._motion_pending = True
        if blocking:
            self._join(timeout_s)

    def solve_ik(self, position, rpy_offset) -> np.ndarray:
        """Joints inside the joint-limit margins that reach the target; IKFailure if none do.

        Damped least squares from the current joints, home, then further seeds. The robot's own
        Cartesian motion may end at other joints of this redundant arm; read_state() shows them.
        """
        position, rpy_offset = self.check_target(position, rpy_offset)
        state = self._robot.state
        target = np.eye(4)
        target[:3, :3], target[:3, 3] = rotation_from_offset("franka", rpy_offset), position
        margin = self.spec.joint_limit_margin
        q = franka_ik(
            target,
            seeds=(np.array(state.q), np.array(self.spec.home_joints), *_EXTRA_SEEDS),
            low=self.spec.joint_low + margin,
            high=self.spec.joint_high - margin,
            f_t_ee=np.array(state.F_T_EE.matrix),
        )
        if q is None:
            raise IKFailure(
                f"franka: no joint solution within the joint limits (margin {margin} rad) reaches "
                f"{position.round(4).tolist()}; the arm holds"
            )
        return q

    def home(self) -> None:
        fr = self._franky
        self._join(self.motion_timeout_s)
        motion = fr.JointMotion(np.array(self.spec.home_joints, dtype=float))
        self._start_motion(motion)
        self._motion_pending = True
        self._join(max(self.motion_timeout_s, 30.0))

    def stop(self) -> None:
        fr = self._franky
        self._stop_requested.set()
        try:
            self._robot.stop()
        except (fr.CommandException, fr.ControlException, fr.NetworkException, RuntimeError) as e:
            log.warning("franka: stop() reported %s", e)

    def recover(self, attempts: int = 3, settle_s: float = 0.5) -> None:
        """Automatic error recovery; retried because the state that confirms it can lag."""
        fr = self._franky
        self._motion_pending = False
        last = "the robot still reports errors"
        for _ in range(attempts):
            try:
                if self._robot.recover_from_errors():
                    break
            except (fr.CommandException, fr.NetworkException) as e:
                last = str(e)
                continue
            deadline = now() + settle_s
            while now() < deadline and self._robot.has_errors:
                time.sleep(0.01)
            if not self._robot.has_errors and self._robot.state.robot_mode.name != "Reflex":
                break
        else:
            raise ArmFault(
                f"franka: automatic error recovery failed after {attempts} attempts ({last}); "
                "check the robot in Desk",
                self._error_names(self._robot.state),
            )
        self._contact.clear()

    # -- gripper -----------------------------------------------------------------------------
    def set_gripper(self, open_fraction: float, *, blocking: bool = True) -> None:
        if self._gripper is None:
            raise MotionRefused("franka: this FrankaArm was opened with gripper=False")
        if not 0.0 <= open_fraction <= 1.0:
            raise ValueError(f"franka: open_fraction must be in [0, 1], got {open_fraction}")
        if self.gripper_threshold is not None:  # binary: no gripper round trip per step
            open_fraction = 1.0 if open_fraction >= self.gripper_threshold else 0.0
        self._join_gripper(self.motion_timeout_s)
        spec = self.spec
        if self._gripper_target is not None and abs(open_fraction - self._gripper_target) < 0.05:
            return  # already there or going there: skip a blocking gripper round trip
        width = spec.gripper_min + open_fraction * (spec.gripper_max - spec.gripper_min)
        fr = self._franky
        try:
            if open_fraction < 0.05:  # close: a force-controlled grasp that succeeds on anything
                self._gripper_future = self._gripper.grasp_async(
                    0.0, self.gripper_speed, self.grasp_force_n, epsilon_outer=spec.gripper_max
                )
            else:
                self._gripper_future = self._gripper.move_async(width, self.gripper_speed)
        except (fr.GripperException, fr.CommandException, fr.NetworkException) as e:
            raise ArmFault(f"franka: gripper command failed: {e}", ("gripper",)) from e
        self._gripper_target = float(open_fraction)
        if blocking:
            self._join_gripper(self.motion_timeout_s)

    def _join_gripper(self, timeout_s: float) -> None:
        future, self._gripper_future = self._gripper_future, None
        if future is None:
            return
        if not future.wait(timeout_s):
            self._gripper.stop()
            self._gripper_target = None
            raise ArmTimeout(f"franka: gripper did not finish within {timeout_s:.1f} s; stopped")
        fr = self._franky
        try:
            future.get()
        except (fr.GripperException, fr.CommandException) as e:
            self._gripper_target = None
            raise ArmFault(f"franka: gripper command failed: {e}", ("gripper",)) from e

    def close(self) -> None:
        try:
            self._join(self.motion_timeout_s)
            self._join_gripper(self.motion_timeout_s)
        except (ArmFault, ArmTimeout, MotionRefused, ArmConnectionError) as e:
            log.warning("franka: while closing: %s", e)
        finally:
            self._robot = None
            self._gripper = None
