"""Rotations and the Franka's kinematics, in numpy, with no robot library needed.

Orientation convention shared by the drivers, the safety layer and the sim twins: an end-effector
orientation is stored as an *offset* (roll, pitch, yaw) from the arm's gripper-pointing-down
orientation `R_down`, applied in the base frame:

    R = Rz(yaw) @ Ry(pitch) @ Rx(roll) @ R_down

so (0, 0, 0) is "gripper down" and yaw turns the gripper about the vertical axis.

Franka forward kinematics follow the modified DH table in shared/ROBOTS.md (Panda and FR3 share
it); `franka_ik` is a damped-least-squares solver used to refuse unreachable poses before a
motion is sent, since a real Franka answers an unreachable Cartesian target with a reflex.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "GRIPPER_DOWN",
    "rpy_to_matrix",
    "matrix_to_rpy",
    "quat_to_matrix",
    "matrix_to_quat",
    "rotation_from_offset",
    "offset_from_rotation",
    "franka_fk",
    "franka_ik",
    "FRANKA_F_T_EE",
    "FRANKA_DH",
    "FRANKA_FLANGE_D",
]

# R_down per robot: base-frame rotation of the end-effector frame when the gripper points down.
# Franka: franky's end-effector frame at the "ready" pose (z down, x forward).
# WidowX: Interbotix ee_gripper_link (x along the fingers) pitched down by pi/2.
GRIPPER_DOWN = {
    "franka": np.diag([1.0, -1.0, -1.0]),
    "widowx": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
}


def rpy_to_matrix(rpy) -> np.ndarray:
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def matrix_to_rpy(m: np.ndarray) -> np.ndarray:
    """Inverse of `rpy_to_matrix` with pitch in [-pi/2, pi/2]."""
    pitch = math.asin(max(-1.0, min(1.0, -float(m[2, 0]))))
    if abs(math.cos(pitch)) < 1e-9:  # gimbal lock: put everything in yaw
        return np.array([0.0, pitch, math.atan2(-m[0, 1], m[1, 1])])
    return np.array([math.atan2(m[2, 1], m[2, 2]), pitch, math.atan2(m[1, 0], m[0, 0])])


def quat_to_matrix(q_xyzw) -> np.ndarray:
    x, y, z, w = np.asarray(q_xyzw, float) / np.linalg.norm(q_xyzw)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (x, y, z, w) with w >= 0."""
    tr = float(np.trace(m))
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1e-12, 1.0 + m[i, i] - m[j, j] - m[k, k]))
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i], q[j], q[k] = s / 4, (m[j, i] + m[i, j]) / s, (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q / np.linalg.norm(q) * (1.0 if q[3] >= 0 else -1.0)


def rotation_from_offset(robot: str, rpy_offset) -> np.ndarray:
    return rpy_to_matrix(rpy_offset) @ GRIPPER_DOWN[robot]


def offset_from_rotation(robot: str, rotation: np.ndarray) -> np.ndarray:
    return matrix_to_rpy(np.asarray(rotation) @ GRIPPER_DOWN[robot].T)


# Modified DH (Craig): (a_{i-1}, d_i, alpha_{i-1}) per joint, then the flange.
FRANKA_DH = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -math.pi / 2),
    (0.0, 0.316, math.pi / 2),
    (0.0825, 0.0, math.pi / 2),
    (-0.0825, 0.384, -math.pi / 2),
    (0.0, 0.0, math.pi / 2),
    (0.088, 0.0, math.pi / 2),
)
FRANKA_FLANGE_D = 0.107
# Flange -> tool centre point of the Franka Hand: -pi/4 about z, 0.1034 m along z.
FRANKA_F_T_EE = np.array(
    [
        [math.cos(-math.pi / 4), -math.sin(-math.pi / 4), 0.0, 0.0],
        [math.sin(-math.pi / 4), math.cos(-math.pi / 4), 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.1034],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def _dh(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    ca, sa, ct, st = math.cos(alpha), math.sin(alpha), math.cos(theta), math.sin(theta)
    return np.array(
        [
            [ct, -st, 0.0, a],
            [st * ca, ct * ca, -sa, -d * sa],
            [st * sa, ct * sa, ca, d * ca],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def franka_fk(q, f_t_ee: np.ndarray = FRANKA_F_T_EE) -> np.ndarray:
    """4x4 base -> end-effector transform for joint angles `q` (7,)."""
    t = np.eye(4)
    for (a, d, alpha), theta in zip(FRANKA_DH, q, strict=True):
        t = t @ _dh(a, d, alpha, float(theta))
    return t @ _dh(0.0, FRANKA_FLANGE_D, 0.0, 0.0) @ f_t_ee


def _pose_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    rot_err = target[:3, :3] @ current[:3, :3].T
    angle_axis = 0.5 * np.array(
        [
            rot_err[2, 1] - rot_err[1, 2],
            rot_err[0, 2] - rot_err[2, 0],
            rot_err[1, 0] - rot_err[0, 1],
        ]
    )
    return np.concatenate([target[:3, 3] - current[:3, 3], angle_axis])


def franka_ik(
    target: np.ndarray,
    seeds,
    low: np.ndarray,
    high: np.ndarray,
    f_t_ee: np.ndarray = FRANKA_F_T_EE,
    iterations: int = 200,
    tolerance: tuple[float, float] = (1e-3, 1e-2),
) -> np.ndarray | None:
    """Joint angles within [low, high] reaching `target` (4x4) from one of `seeds`, or None."""
    for seed in seeds:
        q = np.clip(np.asarray(seed, float), low, high)
        for _ in range(iterations):
            current = franka_fk(q, f_t_ee)
            err = _pose_error(current, target)
            if np.linalg.norm(err[:3]) < tolerance[0] and np.linalg.norm(err[3:]) < tolerance[1]:
                return q
            jac = np.zeros((6, 7))
            for j in range(7):  # numerical Jacobian: cheap enough at 7 joints
                dq = q.copy()
                dq[j] += 1e-6
                jac[:, j] = _pose_error(current, franka_fk(dq, f_t_ee)) / 1e-6
            step = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), err)
            q = np.clip(q + np.clip(step, -0.2, 0.2), low, high)
    return None
