"""`ObservationSpec`: what a policy sees, the same record for the sim twin and the real arm.

    spec = spec_of_config(config.env)           # before anything starts (no env, no hardware)
    spec == spec_of_env(env, config.env.cameras)   # what a built env actually gives
    spec.describe()  # "front+wrist cameras at 64x64; a 14-number state vector (proprio ...)"

A policy's input is a flat "state" vector (proprio, then the simulator's privileged object state
when the spec lets it through) and, with cameras, one uint8 (H, W, 3) image per camera. Base-policy
and learner checkpoints record the spec they were fitted on, so `rrl train` and `rrl evaluate`
refuse a checkpoint that would see something else than the env gives.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from envs.tasks import CLOTH_COLOURS

__all__ = ["ObservationSpec", "PROPRIO_FIELDS", "STATE_FIELD_SIZES", "spec_of_config", "spec_of_env"]

# The proprio layout of sim and real (envs/sim/env.py `_proprio`, envs/real.py `_observe`).
PROPRIO_FIELDS = ("tcp_pos", "tcp_quat", "gripper_opening", "joints")
# Numbers per privileged state field (envs.sim.env.STATE_FIELDS names them per task).
STATE_FIELD_SIZES = {
    "object_pos": 3, "object_quat": 4, "cloth_pos": 3, "object_minus_tcp": 3,
    "cloth_minus_object": 3, "nearest_cloth_minus_object": 3, "object_minus_start": 3,
    "drawer_opening": 1, "handle_pos": 3, "handle_minus_tcp": 3,
    **{f"{colour}_cloth_{what}": 3 for colour in CLOTH_COLOURS for what in ("pos", "minus_object")},
}


@dataclasses.dataclass(frozen=True)
class ObservationSpec:
    """Cameras (in the order the policy stacks them), their image size, and the state vector."""

    cameras: tuple[str, ...]  # policy cameras, in stacking order; empty: the state vector only
    image_size: tuple[int, ...]  # (height, width) of every camera image; () without cameras
    proprio_size: int  # numbers of proprio at the front of the state vector
    state_fields: tuple[str, ...]  # privileged sim state fields after the proprio; () without
    state_size: int  # length of the flat state vector the policy sees
    proprio_fields: tuple[str, ...] = PROPRIO_FIELDS

    def __post_init__(self) -> None:
        if self.cameras and len(self.image_size) != 2:
            raise ValueError(f"ObservationSpec: image_size must be (height, width), got {self.image_size!r}")
        if not self.cameras and self.image_size:
            raise ValueError(f"ObservationSpec: image_size {self.image_size!r} without cameras")
        if not 0 < self.proprio_size <= self.state_size:
            raise ValueError(
                f"ObservationSpec: need 0 < proprio_size <= state_size, got {self.proprio_size} "
                f"and {self.state_size}"
            )

    @property
    def privileged_state(self) -> bool:
        return bool(self.state_fields)

    def describe(self) -> str:
        if self.cameras:
            height, width = self.image_size
            seen = f"{'+'.join(self.cameras)} camera(s) at {height}x{width}"
        else:
            seen = "no camera"
        state = f"proprio ({', '.join(self.proprio_fields)}: {self.proprio_size})"
        if self.state_fields:
            state += f" + privileged sim state ({', '.join(self.state_fields)})"
        else:
            state += ", no privileged sim state"
        return f"{seen}; a {self.state_size}-number state vector: {state}"

    def to_dict(self) -> dict[str, Any]:
        return {field.name: list(value) if isinstance(value, tuple) else value
                for field in dataclasses.fields(self) for value in [getattr(self, field.name)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservationSpec:
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"ObservationSpec: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _proprio_size(robot: str) -> int:
    from envs.sim.env import proprio_space  # MuJoCo is imported only when a spec is needed

    return int(proprio_space(robot).shape[0])


def spec_of_config(env_config: Any) -> ObservationSpec:
    """The spec an `EnvConfig` asks for. A real arm has no privileged state to give."""
    from envs.sim.env import STATE_FIELDS

    privileged = env_config.privileged_state and env_config.backend == "sim"
    fields = STATE_FIELDS[env_config.task] if privileged else ()
    proprio = _proprio_size(env_config.robot)
    cameras = tuple(env_config.cameras)
    return ObservationSpec(
        cameras=cameras,
        image_size=tuple(int(v) for v in env_config.image_size) if cameras else (),
        proprio_size=proprio,
        state_fields=tuple(fields),
        state_size=proprio + sum(STATE_FIELD_SIZES[name] for name in fields),
    )


def spec_of_env(env: Any, cameras: tuple[str, ...]) -> ObservationSpec:
    """The spec a built env (sim or real) gives, with `cameras` as the policy's cameras."""
    from envs.sim.env import STATE_FIELDS

    space = env.observation_space
    unwrapped = env.unwrapped
    proprio = int(space["proprio"].shape[0])
    privileged = "state" in space.spaces
    fields = STATE_FIELDS[unwrapped.task_name] if privileged else ()
    image_size: tuple[int, ...] = ()
    if cameras:
        images = space["images"].spaces if "images" in space.spaces else {}
        missing = [name for name in cameras if name not in images]
        if missing:
            raise ValueError(f"spec_of_env: the env has no camera {missing}; it has {sorted(images)}")
        shapes = {tuple(images[name].shape) for name in cameras}
        if len(shapes) != 1:
            raise ValueError(f"spec_of_env: cameras {list(cameras)} differ in shape: {sorted(shapes)}")
        image_size = shapes.pop()[:2]
    return ObservationSpec(
        cameras=tuple(cameras),
        image_size=image_size,
        proprio_size=proprio,
        state_fields=tuple(fields),
        state_size=proprio + (int(space["state"].shape[0]) if privileged else 0),
    )
