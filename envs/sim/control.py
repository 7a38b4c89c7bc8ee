"""End-effector delta control for the sim twins: 7-D action -> joint and finger servo targets.

The target pose accumulates the deltas after the real robot's safety layer has scaled and clipped
them (robots.safety.clip_delta, with the limits of robots.specs), so a policy sees the same clipping
in sim and on the robot. Damped-least-squares IK then runs from the previous joint target on a
scratch MjData, so the joint targets form a smooth trajectory that does not depend on how closely
the servos track.
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np

from robots.safety import clip_delta
from robots.specs import ArmSpec
from robots.transforms import matrix_to_rpy, rpy_to_matrix

__all__ = ["EndEffectorController", "ControlFlags"]


@dataclasses.dataclass
class ControlFlags:
    """What the controller had to change about the commanded motion this step."""

    workspace_clipped: bool = False  # target position was outside the workspace box
    orientation_clipped: bool = False  # target orientation beyond the allowed offsets
    joint_limited: bool = False  # IK solution hit a joint limit or joint velocity limit
    ik_error: float = 0.0  # metres between the wanted target and the IK solution's TCP
    unreachable: bool = False  # IK could not reach the target: it was pulled back to the reach


class EndEffectorController:
    """Maps delta actions [dx, dy, dz, droll, dpitch, dyaw, gripper] in [-1, 1] to servo targets.

    Translation and rotation deltas are in the robot base frame, scaled by the arm's per-step
    limits; gripper is absolute: +1 fully open, -1 closed.
    """

    IK_ITERATIONS = 3
    DAMPING = 1e-2
    NULLSPACE_GAIN = 0.1
    UNREACHABLE_TOLERANCE = 0.005  # metres

    def __init__(self, model: mujoco.MjModel, spec: ArmSpec, control_dt: float):
        self.model = model
        self.spec = spec
        self.control_dt = control_dt
        self.scratch = mujoco.MjData(model)
        self.site_id = model.site("tcp").id
        joints = [model.joint(f"joint{i + 1}") for i in range(spec.num_joints)]
        self.qpos_adr = np.array([j.qposadr[0] for j in joints])
        self.dof_adr = np.array([j.dofadr[0] for j in joints])
        margin = spec.joint_limit_margin
        self.q_low = spec.joint_low + margin
        self.q_high = spec.joint_high - margin
        self.max_dq = np.asarray(spec.joint_velocity_limits) * control_dt
        self.finger_range = model.jnt_range[model.joint("finger_left").id].copy()
        self._jacp = np.zeros((3, model.nv))
        self._jacr = np.zeros((3, model.nv))
        self.q_home = np.asarray(spec.home_joints, float)
        self.nominal_rotation = self.forward_kinematics(self.q_home)[1]
        self.reset()

    def forward_kinematics(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (3,) and rotation matrix (3, 3) at arm joints `q`."""
        self.scratch.qpos[self.qpos_adr] = q
        mujoco.mj_kinematics(self.model, self.scratch)
        return (
            self.scratch.site_xpos[self.site_id].copy(),
            self.scratch.site_xmat[self.site_id].reshape(3, 3).copy(),
        )

    def reset(self, q: np.ndarray | None = None) -> None:
        self.q_target = self.q_home.copy() if q is None else np.asarray(q, float).copy()
        self.target_pos, rotation = self.forward_kinematics(self.q_target)
        # (roll, pitch, yaw) of the pose relative to the nominal gripper-down orientation.
        self.target_rpy = matrix_to_rpy(rotation @ self.nominal_rotation.T)

    def gripper_target(self, command: float) -> float:
        """Per-finger slide position for a gripper command in [-1, 1]: >= 0 opens, < 0 closes.

        Binary like the real drivers (the WidowX's grasp/release, the Franka's default
        `gripper_threshold`), so a policy meets the same gripper in sim as on the robot.
        """
        lo, hi = self.finger_range
        return float(hi if command >= 0.0 else lo)

    def command(self, action: np.ndarray) -> tuple[np.ndarray, float, ControlFlags]:
        """Updates the target pose by `action`; returns joint targets, finger target, flags."""
        target, events = clip_delta(self.spec, self.target_pos, self.target_rpy, action)
        if target.refused:  # the env checks shape and NaN first; this is the last line of defence
            raise ValueError(f"controller: {events[0].message}")
        kinds = {event.kind for event in events}
        flags = ControlFlags(workspace_clipped="workspace" in kinds, orientation_clipped="orientation" in kinds)
        self.target_pos, self.target_rpy = target.position, target.rpy_offset
        target_rot = rpy_to_matrix(self.target_rpy) @ self.nominal_rotation

        q = self._solve_ik(self.q_target, self.target_pos, target_rot)
        step = np.clip(q - self.q_target, -self.max_dq, self.max_dq)
        q_new = np.clip(self.q_target + step, self.q_low, self.q_high)
        flags.joint_limited = bool(np.any(np.abs(q_new - q) > 1e-6))
        self.q_target = q_new
        reached, _ = self.forward_kinematics(q_new)
        flags.ik_error = float(np.linalg.norm(reached - self.target_pos))
        if flags.ik_error > self.UNREACHABLE_TOLERANCE:
            # Keep the target where the arm can go, so it cannot run away from the arm.
            flags.unreachable = True
            self.target_pos = reached
        return q_new, self.gripper_target(action[6]), flags

    def _solve_ik(self, q: np.ndarray, pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
        q = q.copy()
        n = len(q)
        quat_target, quat_now, err_rot = np.zeros(4), np.zeros(4), np.zeros(3)
        mujoco.mju_mat2Quat(quat_target, rot.ravel())
        for _ in range(self.IK_ITERATIONS):
            self.scratch.qpos[self.qpos_adr] = q
            mujoco.mj_kinematics(self.model, self.scratch)
            mujoco.mj_comPos(self.model, self.scratch)
            mujoco.mj_jacSite(self.model, self.scratch, self._jacp, self._jacr, self.site_id)
            jac = np.vstack([self._jacp[:, self.dof_adr], self._jacr[:, self.dof_adr]])
            mujoco.mju_mat2Quat(quat_now, self.scratch.site_xmat[self.site_id])
            # World-frame rotation error: the angular velocity taking `now` to `target` in 1 s.
            mujoco.mju_subQuat(err_rot, quat_target, quat_now)
            err_rot = self.scratch.site_xmat[self.site_id].reshape(3, 3) @ err_rot
            err = np.concatenate([pos - self.scratch.site_xpos[self.site_id], err_rot])
            jjt = jac @ jac.T + self.DAMPING**2 * np.eye(6)
            pinv = jac.T @ np.linalg.solve(jjt, np.eye(6))
            dq = pinv @ err
            if n > 6:  # redundant arm: drift toward the home posture in the null space
                dq += (np.eye(n) - pinv @ jac) @ (self.NULLSPACE_GAIN * (self.q_home - q))
            q = np.clip(q + dq, self.q_low, self.q_high)
        return q
