"""The safety layer between a policy's 7-D action and every motion, real or simulated.

    safety = SafetyLayer(arm_spec("widowx"), log_path="runs/x/safety.jsonl")
    target, events = safety.filter_delta(state.ee_position, state.ee_rpy_offset, action)
    if not target.refused:
        arm.move_to_pose(target.position, target.rpy_offset)
        arm.set_gripper(target.gripper)

`clip_delta` is the pure core (the sim twins call it through `SafetyLayer.filter_delta` so a
policy sees the same clipping in sim and on the robot). Action layout and scaling:

    action = [dx, dy, dz, droll, dpitch, dyaw, gripper], each in [-1, 1]
    translation step = action[:3] * spec.max_step_translation      (m, base frame)
    rotation step    = action[3:6] * spec.max_step_rotation        (rad, added to the rpy offset)
    gripper          = (action[6] + 1) / 2                         (0 closed .. 1 open)

Then the target position is clipped to the workspace box and the orientation offset to
`spec.max_orientation_offset`, and both are kept within one step of the current pose (so an arm
that starts outside the box walks back in by at most one step). A non-finite action is refused:
the target is the current pose and the gripper is left alone. Every clip or refusal is a
`SafetyEvent`; the layer keeps the latest ones and appends them to an optional jsonl log.
`joint_margin_events` flags joints within `spec.joint_limit_margin` of a limit: the guarded arm
refuses a motion whose target joints are flagged. The watchdog, the e-stop and the guarded arm
that uses this layer are in robots.guarded_arm.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from robots.specs import ArmSpec

__all__ = ["SafetyEvent", "SafeTarget", "SafetyLayer", "clip_delta", "joint_margin_events"]

ACTION_DIM = 7


@dataclasses.dataclass(frozen=True)
class SafetyEvent:
    """One clipped or refused command. `kind` is one of KINDS."""

    kind: str
    message: str
    requested: tuple[float, ...] = ()
    applied: tuple[float, ...] = ()
    time: float = dataclasses.field(default_factory=time.time)

    KINDS = (
        "action_clipped",  # an action component outside [-1, 1]
        "workspace",  # the position target left the workspace box
        "orientation",  # the orientation offset exceeded its limit
        "step",  # the target was pulled back to one step from the current pose
        "non_finite",  # NaN / inf in the action: refused
        "bad_shape",  # wrong action shape: refused
        "joint_margin",  # a joint is inside its limit margin
        "estop",  # refused: the e-stop is active
        "watchdog",  # the watchdog stopped the arm
    )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SafeTarget:
    """Where the arm may go this step. `gripper` is None when it must not change."""

    position: np.ndarray  # (3,) m
    rpy_offset: np.ndarray  # (3,) rad
    gripper: float | None  # open fraction in [0, 1]
    refused: bool = False


def _tuple(x) -> tuple[float, ...]:
    return tuple(float(v) for v in np.ravel(x))


def _clip(wanted, low, high, events: list[SafetyEvent], kind: str, message: str) -> np.ndarray:
    """`wanted` clipped to [low, high]; appends an event of `kind` when that changed it."""
    clipped = np.clip(wanted, low, high)
    if np.any(np.abs(clipped - wanted) > 1e-12):
        events.append(SafetyEvent(kind, message, _tuple(wanted), _tuple(clipped)))
    return clipped


def clip_delta(
    spec: ArmSpec, current_pos, current_rpy_offset, action
) -> tuple[SafeTarget, list[SafetyEvent]]:
    """Pure: the safe target for `action` from the current pose, and what was changed."""
    pos = np.asarray(current_pos, float).reshape(3)
    rpy = np.asarray(current_rpy_offset, float).reshape(3)
    hold = SafeTarget(pos.copy(), rpy.copy(), None, refused=True)
    raw = np.asarray(action, dtype=float)
    if raw.shape != (ACTION_DIM,):
        return hold, [SafetyEvent("bad_shape", f"action shape {raw.shape} != (7,): refused")]
    if not np.all(np.isfinite(raw)):
        return hold, [SafetyEvent("non_finite", "action has NaN/inf: refused", _tuple(raw))]
    events: list[SafetyEvent] = []
    act = np.clip(raw, -1.0, 1.0)
    if np.any(act != raw):
        events.append(
            SafetyEvent("action_clipped", "action clipped to [-1, 1]", _tuple(raw), _tuple(act))
        )

    step = spec.max_step_translation
    target = _clip(pos + act[:3] * step, spec.workspace_low, spec.workspace_high, events,
                   "workspace", "position clipped to the workspace box")
    stepped = _clip(target, pos - step, pos + step, events, "step", "position kept within one step")

    limit = np.asarray(spec.max_orientation_offset, float)
    rstep = spec.max_step_rotation
    target_rpy = _clip(rpy + act[3:6] * rstep, -limit, limit, events,
                       "orientation", "orientation offset clipped")
    stepped_rpy = _clip(target_rpy, rpy - rstep, rpy + rstep, events,
                        "step", "orientation kept within one step")

    gripper = float((act[6] + 1.0) / 2.0)
    return SafeTarget(stepped, stepped_rpy, gripper), events


def joint_margin_events(spec: ArmSpec, joints, which: str = "measured") -> list[SafetyEvent]:
    """Events for joints closer than `spec.joint_limit_margin` to a limit (pure).

    `which` says whose joints they are in the message: "measured" or a motion's "target".
    """
    q = np.asarray(joints, float)
    if q.shape != (spec.num_joints,):
        raise ValueError(f"{spec.name}: joints must have shape ({spec.num_joints},), got {q.shape}")
    low, high = spec.joint_low + spec.joint_limit_margin, spec.joint_high - spec.joint_limit_margin
    bad = np.flatnonzero((q < low) | (q > high))
    return [
        SafetyEvent(
            "joint_margin",
            f"{which} joint {i + 1} at {q[i]:.4f} rad is within {spec.joint_limit_margin} rad "
            f"of its limits [{spec.joint_low[i]:.4f}, {spec.joint_high[i]:.4f}]",
            (float(q[i]),),
        )
        for i in bad
    ]


class SafetyLayer:
    """`clip_delta` plus an e-stop check and a log of every event (thread-safe)."""

    def __init__(
        self, spec: ArmSpec, log_path: str | os.PathLike | None = None, keep: int = 10_000
    ):
        self.spec = spec
        self.events: collections.deque[SafetyEvent] = collections.deque(maxlen=keep)
        self.log_path = Path(log_path) if log_path is not None else None
        self._lock = threading.Lock()
        self._estop_reason: str | None = None

    def filter_delta(
        self, current_pos, current_rpy_offset, action
    ) -> tuple[SafeTarget, list[SafetyEvent]]:
        """The safe target for a 7-D action from the current pose; see the module docstring.

        While the e-stop is active every action is refused (target = current pose).
        """
        if self._estop_reason is not None:
            pos = np.asarray(current_pos, float).reshape(3)
            rpy = np.asarray(current_rpy_offset, float).reshape(3)
            events = [SafetyEvent("estop", f"e-stop active ({self._estop_reason}): refused")]
            target = SafeTarget(pos.copy(), rpy.copy(), None, refused=True)
        else:
            target, events = clip_delta(self.spec, current_pos, current_rpy_offset, action)
        self.record(events)
        return target, events

    def check_joints(self, joints, which: str = "measured") -> list[SafetyEvent]:
        events = joint_margin_events(self.spec, joints, which)
        self.record(events)
        return events

    def record(self, events: list[SafetyEvent]) -> None:
        if not events:
            return
        with self._lock:
            self.events.extend(events)
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path, "a") as f:
                    for event in events:
                        f.write(json.dumps({"robot": self.spec.name, **event.to_json()}) + "\n")

    # -- e-stop state (robots.guarded_arm.EStop drives it) ------------------------------------------
    def set_estop(self, reason: str) -> None:
        first = self._estop_reason is None
        self._estop_reason = reason
        if first:
            self.record([SafetyEvent("estop", f"e-stop triggered: {reason}")])

    def clear_estop(self) -> None:
        self._estop_reason = None

    @property
    def estopped(self) -> bool:
        return self._estop_reason is not None

    @property
    def estop_reason(self) -> str | None:
        return self._estop_reason
