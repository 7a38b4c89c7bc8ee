"""MJCF for the sim twins, written from the arms' published kinematics (shared/ROBOTS.md).

Arms are built from capsules and boxes so they render fast. Only the hand and fingers collide
(the links are visual): the workspace limits keep the arm above the table, and skipping link
collisions keeps physics cheap. Every arm exposes the same names to the env:
  joints   `joint1`.. `jointN`, fingers `finger_left` / `finger_right` (slide, metres per finger)
  sites    `tcp` (tool centre point; its z axis is the approach direction)
  actuators `act_joint1`.. (joint position servos), `act_finger_left` / `act_finger_right`
  cameras  `wrist` on the hand; the scene adds `front`
"""

from __future__ import annotations

import math

import numpy as np

from robots.specs import FRANKA, WIDOWX, ArmSpec
from robots.transforms import FRANKA_DH, FRANKA_FLANGE_D

__all__ = ["arm_xml", "scene_xml"]


def _f(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in np.atleast_1d(values))


def _quat_x(angle: float) -> np.ndarray:
    return np.array([math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0])


def _quat_z(angle: float) -> np.ndarray:
    return np.array([math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)])


def _link_capsule(to: np.ndarray, radius: float, rgba: str, mass: float) -> str:
    """A capsule from the body origin to `to` (the next joint), carrying the link's mass."""
    if np.linalg.norm(to) < 1e-6:
        return f'<geom class="link" type="sphere" size="{radius}" rgba="{rgba}" mass="{mass}"/>'
    return (
        f'<geom class="link" type="capsule" fromto="0 0 0 {_f(to)}" size="{radius}" '
        f'rgba="{rgba}" mass="{mass}"/>'
    )


def _joint(index: int, spec: ArmSpec, axis: str = "0 0 1") -> str:
    lo, hi = spec.joint_limits[index - 1]
    return f'<joint name="joint{index}" axis="{axis}" range="{lo} {hi}" class="arm"/>'


# Franka's modified DH rows (a_{i-1}, d_i, alpha_{i-1}), the same table the real driver's
# kinematics use, then the flange.
_FRANKA_DH = (*FRANKA_DH, (0.0, FRANKA_FLANGE_D, 0.0))
_FRANKA_MASSES = (2.791, 2.542, 2.251, 2.204, 2.286, 1.353, 0.360)


def _dh_frame(a: float, d: float, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Craig's T = RotX(alpha) TransX(a) TransZ(d) as a body pos and quat (joint about z)."""
    pos = np.array([a, -d * math.sin(alpha), d * math.cos(alpha)])
    return pos, _quat_x(alpha)


def _franka_arm() -> str:
    frames = [_dh_frame(*row) for row in _FRANKA_DH]
    white, grey = "0.95 0.95 0.95 1", "0.25 0.25 0.28 1"
    xml = [
        '<body name="base" pos="0 0 0">',
        '<geom class="link" type="cylinder" size="0.07 0.03" pos="0 0 0.03" rgba="'
        + grey
        + '" mass="4"/>',
    ]
    for i in range(7):
        pos, quat = frames[i]
        child_pos = frames[i + 1][0]
        xml.append(f'<body name="link{i + 1}" pos="{_f(pos)}" quat="{_f(quat)}" gravcomp="1">')
        xml.append(_joint(i + 1, FRANKA))
        xml.append(
            _link_capsule(
                child_pos,
                0.055 if i < 4 else 0.045,
                white if i % 2 == 0 else grey,
                _FRANKA_MASSES[i],
            )
        )
    # Hand: on the flange, rotated -pi/4 about z; fingers 0.0584 m out; TCP 0.1034 m out.
    xml.append(
        f'<body name="hand" pos="{_f(frames[7][0])}" quat="{_f(_quat_z(-math.pi / 4))}" gravcomp="1">'
    )
    xml.append(
        '<geom class="hand" type="box" size="0.025 0.095 0.028" pos="0 0 0.03" rgba="0.92 0.92 0.92 1" mass="0.73"/>'
    )
    xml.append('<site name="tcp" pos="0 0 0.1034" size="0.005" rgba="1 0 0 0"/>')
    xml.append('<camera name="wrist" pos="0.07 0 0.04" xyaxes="0 -1 0 -0.97 0 0.26" fovy="75"/>')
    for side, sign in (("left", 1), ("right", -1)):
        xml.append(f'<body name="finger_{side}" pos="0 0 0.0584" gravcomp="1">')
        xml.append(
            f'<joint name="finger_{side}" type="slide" axis="0 {sign} 0" range="0 0.04" class="finger"/>'
        )
        xml.append(
            f'<geom class="pad" type="box" size="0.009 0.006 0.026" pos="0 {sign * 0.006} 0.026" mass="0.015"/>'
        )
        xml.append("</body>")
    xml.append("</body>" * 9)  # link1..7, hand, base
    return "\n".join(xml)


def _widowx_arm() -> str:
    black, grey = "0.12 0.12 0.12 1", "0.35 0.35 0.38 1"
    y = "0 1 0"
    x = "1 0 0"
    # (body, pos in parent, joint axis, capsule to child, radius, mass)
    chain = (
        ("shoulder", (0, 0, 0.072), "0 0 1", (0, 0, 0.03865), 0.03, 0.48),
        ("upper_arm", (0, 0, 0.03865), y, (0.04975, 0, 0.25), 0.025, 0.43),
        ("upper_forearm", (0.04975, 0, 0.25), y, (0.175, 0, 0), 0.022, 0.29),
        ("lower_forearm", (0.175, 0, 0), x, (0.075, 0, 0), 0.02, 0.17),
        ("wrist", (0.075, 0, 0), y, (0.065, 0, 0), 0.018, 0.08),
    )
    xml = [
        '<body name="base" pos="0 0 0">',
        '<geom class="link" type="box" size="0.06 0.06 0.036" pos="0 0 0.036" rgba="'
        + black
        + '" mass="1"/>',
    ]
    for i, (name, pos, axis, to, radius, mass) in enumerate(chain):
        xml.append(f'<body name="{name}" pos="{_f(pos)}" gravcomp="1">')
        xml.append(_joint(i + 1, WIDOWX, axis))
        xml.append(_link_capsule(np.array(to, float), radius, black if i % 2 == 0 else grey, mass))
    # Gripper link: wrist rotate about x; fingers slide along y; ee_gripper 0.093575 m out.
    xml.append('<body name="hand" pos="0.065 0 0" gravcomp="1">')
    xml.append(_joint(6, WIDOWX, x))
    xml.append(
        '<geom class="hand" type="box" size="0.03 0.045 0.015" pos="0.035 0 0" rgba="0.12 0.12 0.12 1" mass="0.1"/>'
    )
    xml.append(
        '<site name="tcp" pos="0.093575 0 0" xyaxes="0 0 -1 0 1 0" size="0.005" rgba="1 0 0 0"/>'
    )
    xml.append('<camera name="wrist" pos="0.03 0 0.04" xyaxes="0 -1 0 -0.26 0 0.97" fovy="75"/>')
    for side, sign in (("left", 1), ("right", -1)):
        xml.append(f'<body name="finger_{side}" pos="0.066 0 0" gravcomp="1">')
        xml.append(
            f'<joint name="finger_{side}" type="slide" axis="0 {sign} 0" range="0.015 0.037" class="finger"/>'
        )
        xml.append(
            f'<geom class="pad" type="box" size="0.022 0.005 0.009" pos="0.016 {sign * 0.005} 0" mass="0.01"/>'
        )
        xml.append("</body>")
    xml.append("</body>" * 7)
    return "\n".join(xml)


def arm_xml(robot: str) -> tuple[str, ArmSpec]:
    builders = {"franka": (_franka_arm, FRANKA), "widowx": (_widowx_arm, WIDOWX)}
    build, spec = builders[robot]
    return build(), spec


def _lookat_xyaxes(eye, target) -> str:
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return _f(np.concatenate([right, up]))


def _actuators(robot: str, spec: ArmSpec) -> str:
    # Stiff joint servos (implicit damping via kv) track the IK targets within a control step.
    kp, kv = (1500.0, 80.0) if robot == "franka" else (300.0, 12.0)
    lines = []
    for i in range(spec.num_joints):
        lo, hi = spec.joint_limits[i]
        lines.append(
            f'<position name="act_joint{i + 1}" joint="joint{i + 1}" kp="{kp}" kv="{kv}" '
            f'ctrlrange="{lo} {hi}"/>'
        )
    lo, hi = (0.0, 0.04) if robot == "franka" else (0.015, 0.037)
    for side in ("left", "right"):
        lines.append(
            f'<position name="act_finger_{side}" joint="finger_{side}" kp="400" kv="8" '
            f'ctrlrange="{lo} {hi}" forcerange="-15 15"/>'
        )
    return "\n".join(lines)


# Task layout per robot: where things go on the table (metres, robot base frame).
LAYOUT = {
    "franka": {
        "camera_eye": (1.25, -0.95, 0.95),
        "camera_target": (0.42, 0.0, 0.15),
        "cloth_half": (0.07, 0.07),
        "cabinet_half": (0.12, 0.18, 0.1),  # x, y, z half sizes
        "drawer_travel": 0.15,
        "handle_below_top": (0.02, 0.03),
    },
    "widowx": {
        "camera_eye": (0.75, -0.55, 0.45),
        "camera_target": (0.32, 0.0, 0.04),
        "cloth_half": (0.06, 0.06),
        "cabinet_half": (0.1, 0.13, 0.06),
        "drawer_travel": 0.10,
        "handle_below_top": (0.035, 0.045),
    },
}
OBJECT_HALF = 0.02
CLOTH_THICKNESS = 0.002
HANDLE_STANDOFF = 0.04


def _pick_place_xml(robot: str) -> str:
    cx, cy = LAYOUT[robot]["cloth_half"]
    return f"""
    <body name="cloth" pos="0.5 0.1 {CLOTH_THICKNESS}">
      <geom name="cloth" type="box" size="{cx} {cy} {CLOTH_THICKNESS}" rgba="0.2 0.4 0.8 1"
            friction="1.2 0.01 0.001"/>
    </body>""" + _object_xml()


def _object_xml() -> str:
    h = OBJECT_HALF
    return f"""
    <body name="object" pos="0.5 -0.1 {h + 0.001}">
      <freejoint name="object"/>
      <geom name="object" type="box" size="{h} {h} {h}" rgba="0.95 0.8 0.1 1" mass="0.05"
            friction="1.5 0.02 0.002" condim="4"/>
    </body>"""


# pick_place_multi: three smaller cloths (they and the object must fit the placement area apart).
MULTI_CLOTH_HALF = {"franka": (0.055, 0.055), "widowx": (0.045, 0.045)}
CLOTH_RGBA = {"red": "0.85 0.12 0.12 1", "green": "0.15 0.7 0.2 1", "blue": "0.2 0.35 0.9 1"}


def cloth_names(task: str) -> tuple[str, ...]:
    """The cloth bodies (and geoms) of a pick-and-place scene, the one the task names first."""
    from envs.tasks import CLOTH_COLOURS

    return tuple(f"cloth_{c}" for c in CLOTH_COLOURS) if task == "pick_place_multi" else ("cloth",)


def cloth_half(robot: str, task: str) -> tuple[float, float]:
    return MULTI_CLOTH_HALF[robot] if task == "pick_place_multi" else LAYOUT[robot]["cloth_half"]


def _pick_place_multi_xml(robot: str) -> str:
    cx, cy = cloth_half(robot, "pick_place_multi")
    cloths = "".join(
        f"""
    <body name="{name}" pos="0.5 {0.15 * i - 0.15} {CLOTH_THICKNESS}">
      <geom name="{name}" type="box" size="{cx} {cy} {CLOTH_THICKNESS}"
            rgba="{CLOTH_RGBA[name.removeprefix("cloth_")]}" friction="1.2 0.01 0.001"/>
    </body>"""
        for i, name in enumerate(cloth_names("pick_place_multi"))
    )
    return cloths + _object_xml()


def _drawer_xml(robot: str) -> str:
    hx, hy, hz = LAYOUT[robot]["cabinet_half"]
    travel = LAYOUT[robot]["drawer_travel"]
    handle_z = hz - np.mean(LAYOUT[robot]["handle_below_top"])  # the env randomises it
    # The cabinet's front face is at x = -hx in its frame; the drawer slides out toward -x.
    return f"""
    <body name="cabinet" pos="0.6 0 {hz}">
      <geom name="cabinet" type="box" size="{hx} {hy} {hz}" rgba="0.55 0.4 0.28 1"/>
      <body name="drawer" pos="{-hx} 0 0">
        <joint name="drawer" type="slide" axis="-1 0 0" range="0 {travel}" damping="3"
               frictionloss="0.3"/>
        <geom name="drawer_front" type="box" size="0.008 {hy * 0.9} {hz * 0.85}"
              pos="-0.008 0 0" rgba="0.7 0.55 0.38 1"/>
        <geom class="visual" type="box" size="{travel / 2} {hy * 0.85} 0.004"
              pos="{travel / 2} 0 {-hz * 0.8}" rgba="0.6 0.45 0.3 1"/>
        <body name="handle" pos="{-0.016 - HANDLE_STANDOFF} 0 {handle_z}">
          <geom name="handle" type="capsule" fromto="0 -0.05 0 0 0.05 0" size="0.006"
                rgba="0.8 0.8 0.82 1"/>
          <geom name="handle_post_l" type="capsule" fromto="0 -0.05 0 {HANDLE_STANDOFF} -0.05 0"
                size="0.005" rgba="0.8 0.8 0.82 1"/>
          <geom name="handle_post_r" type="capsule" fromto="0 0.05 0 {HANDLE_STANDOFF} 0.05 0"
                size="0.005" rgba="0.8 0.8 0.82 1"/>
        </body>
      </body>
    </body>"""


def scene_xml(robot: str, task: str, timestep: float = 0.005, offscreen: int = 640) -> str:
    """The full MJCF of `robot` on a tabletop set up for `task`."""
    arm, spec = arm_xml(robot)
    layout = LAYOUT[robot]
    task_xml = {"pick_place": _pick_place_xml, "pick_place_multi": _pick_place_multi_xml,
                "open_drawer": _drawer_xml}[task](robot)
    exclude = '<exclude body1="cabinet" body2="drawer"/>' if task == "open_drawer" else ""
    return f"""<mujoco model="rrl_{robot}_{task}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep}" integrator="implicitfast" cone="elliptic" impratio="5"/>
  <visual>
    <quality shadowsize="0"/>
    <global offwidth="{offscreen}" offheight="{offscreen}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/>
  </visual>
  <default>
    <default class="visual"><geom contype="0" conaffinity="0"/></default>
    <default class="link"><geom contype="0" conaffinity="0"/></default>
    <default class="hand"><geom friction="1 0.01 0.001"/></default>
    <default class="pad"><geom friction="1.5 0.02 0.002" condim="4" rgba="0.2 0.2 0.2 1"/></default>
    <default class="arm"><joint armature="0.1" damping="1"/></default>
    <default class="finger"><joint armature="0.01" damping="2"/></default>
  </default>
  <worldbody>
    <light name="key" pos="0.4 -0.3 1.5" dir="0 0.2 -1" diffuse="0.6 0.6 0.6" castshadow="false"/>
    <geom name="table" type="box" size="0.9 0.7 0.02" pos="0.35 0 -0.02" rgba="0.78 0.74 0.68 1"/>
    <camera name="front" pos="{_f(layout["camera_eye"])}"
            xyaxes="{_lookat_xyaxes(layout["camera_eye"], layout["camera_target"])}" fovy="50"/>
    {arm}
    {task_xml}
  </worldbody>
  <contact>{exclude}</contact>
  <actuator>
    {_actuators(robot, spec)}
  </actuator>
</mujoco>"""
