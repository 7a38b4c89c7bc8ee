"""`RealEnv`: a real arm, RealSense cameras and a task, behind the same gymnasium interface as SimEnv.

    env = envs.make("franka", "pick_place", backend="real", ip="<robot-ip>",
                    cameras={"front": "123622270136"}, scene_reset="prompt")
    recorder = envs.EpisodeRecorder(env, camera="front", fps=5)
    obs, info = recorder.reset()
    ...                                   # same action space and observation layout as the sim

Same action space as the sim twin ([dx, dy, dz, droll, dpitch, dyaw, gripper] in [-1, 1], scaled
by robots.specs), same observation layout (`proprio` = TCP position, TCP quaternion (w, x, y, z)
in the sim's TCP frame, gripper opening, joints; `images` resized to `image_size` by a centre
crop to the target aspect then area resampling); no privileged `state`. Like the sim controller,
deltas accumulate on the previous commanded target (re-anchored to the measured pose when the arm
lags by more than two steps), and every motion goes through robots.guarded_arm.GuardedArm.

reset(): home, open the gripper, reset the scene (operator prompt on stdin, a callable, or
nothing), then a random start pose within `start_pose_noise` of home, inside the workspace.
A fault during a step (a camera lost, a refused motion, an IK failure, an arm fault or timeout,
the e-stop or the watchdog, an invalid action) stops the arm and ends the episode with
truncated=True and info["end_reason"] set, so the EpisodeRecorder keeps and marks it.
"""

from __future__ import annotations

import functools
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces
from PIL import Image

from envs.sim.env import DEFAULT_EPISODE_STEPS, proprio_space
from envs.tasks import TASKS
from robots.arm import (
    Arm,
    ArmConnectionError,
    ArmError,
    ArmFault,
    ArmTimeout,
    IKFailure,
    MotionRefused,
)
from robots.cameras import CameraError, CameraSpec, realsense_rig
from robots.guarded_arm import EmergencyStop, GuardedArm, WatchdogTripped, install_signal_estop
from robots.safety import SafetyLayer
from robots.specs import arm_spec
from robots.transforms import rpy_to_matrix

__all__ = ["RealEnv", "resize_image", "operator_prompt", "END_REASONS"]

CAMERAS = ("front", "wrist")  # the sim twin's camera names
ACTION_DIM = 7
# Exception type -> info["end_reason"]; the first match wins (subclasses first).
END_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (CameraError, "camera_lost"),
    (IKFailure, "ik_failure"),
    (MotionRefused, "motion_refused"),
    (ArmTimeout, "arm_timeout"),
    (ArmConnectionError, "arm_disconnected"),
    (EmergencyStop, "estop"),
    (WatchdogTripped, "watchdog"),
    (ArmFault, "arm_fault"),
    (ArmError, "arm_error"),
)


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre-crops `image` to the aspect of `size` (height, width), then area-resamples to it."""
    h, w = image.shape[:2]
    th, tw = size
    if h * tw > w * th:  # too tall
        ch, cw = round(w * th / tw), w
    else:
        ch, cw = h, round(h * tw / th)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(image[top : top + ch, left : left + cw])
    return np.asarray(Image.fromarray(crop).resize((tw, th), Image.Resampling.BOX), np.uint8)


def operator_prompt(message: str, timeout_s: float, stream=None) -> None:
    """Prints `message` and waits for Enter on `stream` (stdin); TimeoutError after timeout_s."""
    stream = sys.stdin if stream is None else stream
    print(f"{message} [press Enter]", file=sys.stderr, flush=True)
    ready, _, _ = select.select([stream], [], [], timeout_s)
    if not ready or not stream.readline():
        raise TimeoutError(f"operator: no answer within {timeout_s:.0f} s to {message!r}")


@functools.cache
def _sim_tcp_nominal(robot: str, task: str) -> np.ndarray:
    """The sim twin's TCP rotation at home, so proprio quaternions match the sim's frame."""
    from envs.sim.control import EndEffectorController
    from envs.sim.models import scene_xml

    model = mujoco.MjModel.from_xml_string(scene_xml(robot, task))
    return EndEffectorController(model, arm_spec(robot), 0.1).nominal_rotation


class RealEnv(gymnasium.Env):
    """The hardware env. Keyword arguments (all optional except the robot's address/cameras):

    ip / arm_kwargs: how to reach the arm (FrankaArm(ip, **arm_kwargs), WidowXArm(**arm_kwargs));
      or `arm`, an already connected Arm.
    cameras: {"front": serial-or-recording, "wrist": ...} or CameraSpecs named front/wrist;
      camera_resolution (width, height), camera_fps and camera_options (CameraSpec fields).
    image_size, control_hz, max_episode_steps: as SimEnv.
    scene_reset: "prompt" (operator presses Enter), "none", or a callable(env).
    start_pose_noise: metres of uniform noise per axis around home for the start pose.
    object_name: the pick_place object named in the instruction (reset option "object_name").
    safety_log: jsonl path for the safety events; command_timeout_s / learner_timeout_s: watchdog
      (call `env.unwrapped.guarded.kick_learner()` on each contact with the learner).
    estop_signal: a signal that sets the e-stop (installed when the env is made in the main thread).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        robot: str,
        task: str,
        *,
        ip: str | None = None,
        arm: Arm | None = None,
        arm_kwargs: Mapping | None = None,
        cameras: Mapping[str, str] | tuple[CameraSpec, ...] = (),
        camera_resolution: tuple[int, int] = (640, 480),
        camera_fps: int = 30,
        camera_options: Mapping | None = None,
        image_size: tuple[int, int] = (128, 128),
        control_hz: float = 10.0,
        max_episode_steps: int | None = None,
        seed: int | None = None,
        scene_reset: str | Callable[[RealEnv], None] = "prompt",
        prompt_timeout_s: float = 600.0,
        start_pose_noise: float = 0.03,
        object_name: str | None = None,
        safety_log: str | None = None,
        command_timeout_s: float = 2.0,
        learner_timeout_s: float | None = None,
        estop_signal: int | None = signal.SIGUSR1,
        render_mode: str | None = "rgb_array",
    ):
        self.spec_arm = arm_spec(robot)
        if task not in TASKS:
            raise ValueError(f"RealEnv: unknown task {task!r}; expected one of {list(TASKS)}")
        if not (scene_reset in ("prompt", "none") or callable(scene_reset)):
            raise ValueError(
                f"RealEnv: scene_reset must be 'prompt', 'none' or a callable, got {scene_reset!r}"
            )
        if not control_hz > 0:
            raise ValueError(f"RealEnv: control_hz must be positive, got {control_hz}")
        self.robot, self.task_name, self.render_mode = robot, task, render_mode
        self.image_size = tuple(int(v) for v in image_size)
        self.control_hz = float(control_hz)
        self.max_episode_steps = int(max_episode_steps or DEFAULT_EPISODE_STEPS[task])
        self.scene_reset, self.prompt_timeout_s = scene_reset, prompt_timeout_s
        self.start_pose_noise = float(start_pose_noise)
        task_spec = TASKS[task]
        self.object_name = object_name or (
            task_spec.object_names[0] if task_spec.object_names else None
        )
        self.instruction = task_spec.instruction_for(self.object_name)
        self._seed = seed
        self._nominal = _sim_tcp_nominal(robot, task)
        self.camera_specs = self._camera_specs(
            cameras, camera_resolution, camera_fps, camera_options or {}
        )
        self.cameras = tuple(s.name for s in self.camera_specs)
        self.rig = realsense_rig(list(self.camera_specs))
        self._own_arm = arm is None
        try:
            self.arm = arm if arm is not None else self._connect(ip, dict(arm_kwargs or {}))
            self.rig.open()
        except BaseException:
            self.close()
            raise
        self.safety = SafetyLayer(self.spec_arm, log_path=safety_log)
        self._previous_handler = None
        if estop_signal is not None and threading.current_thread() is threading.main_thread():
            # `kill -USR1 <pid>` stops the arm; close() restores the previous handler.
            self._previous_handler = (estop_signal, install_signal_estop(self.safety, estop_signal))
        self.guarded = GuardedArm(
            self.arm,
            self.safety,
            command_timeout_s=command_timeout_s,
            learner_timeout_s=learner_timeout_s,
        )
        height, width = self.image_size
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        obs_spaces = {"proprio": proprio_space(robot)}  # the sim twin's, bounds included
        if self.cameras:
            obs_spaces["images"] = spaces.Dict(
                {c: spaces.Box(0, 255, (height, width, 3), np.uint8) for c in self.cameras}
            )
        self.observation_space = spaces.Dict(obs_spaces)
        self._target: tuple[np.ndarray, np.ndarray] | None = None
        self._last_obs: dict | None = None
        self._done = True
        self._steps = 0
        self._tick = 0.0

    # ----- set-up -----------------------------------------------------------------------------
    @staticmethod
    def _camera_specs(cameras, resolution, fps, options) -> tuple[CameraSpec, ...]:
        if isinstance(cameras, Mapping):
            width, height = resolution
            specs = tuple(
                CameraSpec(name, str(src), width, height, fps, **options)
                for name, src in cameras.items()
            )
        else:
            specs = tuple(cameras)
        unknown = [s.name for s in specs if s.name not in CAMERAS]
        if unknown:
            raise ValueError(f"RealEnv: camera names {unknown} are not the sim's {list(CAMERAS)}")
        return specs

    def _connect(self, ip: str | None, kwargs: dict) -> Arm:
        if self.robot == "franka":
            if not ip:
                raise ValueError("RealEnv: the franka backend needs ip=<the robot's FCI address>")
            from robots.franka import FrankaArm

            return FrankaArm(ip, **kwargs)
        from robots.widowx import WidowXArm

        return WidowXArm(**kwargs)

    # ----- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._seed is not None:
            seed, self._seed = self._seed, None
        super().reset(seed=seed)
        options = options or {}
        self.guarded.end_episode()
        if self.arm.read_state().errors:
            self.arm.recover()
        self.guarded.reset()  # raises EmergencyStop while the e-stop is set
        self.arm.home()
        self.arm.open_gripper()
        if callable(self.scene_reset):
            self.scene_reset(self)
        elif self.scene_reset == "prompt":
            operator_prompt(
                f"{self.robot}: reset the scene for {self.task_name!r}", self.prompt_timeout_s
            )
        home = self.arm.read_state()
        spec = self.spec_arm
        offset = self.np_random.uniform(-self.start_pose_noise, self.start_pose_noise, 3)
        start = np.clip(home.ee_position + offset, spec.workspace_low, spec.workspace_high)
        self.arm.move_to_pose(start, np.zeros(3))
        if "object_name" in options:
            self.object_name = options["object_name"]
        self.instruction = TASKS[self.task_name].instruction_for(self.object_name)
        state = self.arm.read_state()
        self._target = (state.ee_position, state.ee_rpy_offset)
        self._steps, self._done = 0, False
        obs = self._observe(state)
        self.guarded.start_episode()
        self._tick = time.monotonic()
        return obs, {"task": self.instruction}

    def step(self, action):
        if self._done:
            raise RuntimeError("RealEnv.step: the episode has ended; call reset()")
        raw = np.asarray(action, dtype=np.float64)
        started = time.monotonic()
        info: dict = {"task": self.instruction}
        if raw.shape != (ACTION_DIM,) or not np.all(np.isfinite(raw)):
            return self._fault(
                "invalid_action", f"action {raw.tolist()} is not 7 finite numbers", info
            )
        try:
            target, events = self.guarded.step(raw, reference=self._target)
            self._target = (target.position, target.rpy_offset)
            time.sleep(max(0.0, self._tick + 1.0 / self.control_hz - time.monotonic()))
            self._tick = time.monotonic()
            state = self.arm.read_state()
            obs = self._observe(state)
        except (CameraError, ArmError) as e:
            reason = next(r for kind, r in END_REASONS if isinstance(e, kind))
            return self._fault(reason, str(e), info)
        self._steps += 1
        lag = np.linalg.norm(state.ee_position - self._target[0])
        if lag > 2 * self.spec_arm.max_step_translation:  # the arm is held back: re-anchor
            self._target = (state.ee_position, state.ee_rpy_offset)
        kinds = {e.kind for e in events}
        info.update(
            action_clipped="action_clipped" in kinds,
            workspace_clipped="workspace" in kinds,
            orientation_clipped="orientation" in kinds,
            safety_events=len(events),
            step_time_s=time.monotonic() - started,
        )
        truncated = self._steps >= self.max_episode_steps
        if truncated:
            info["end_reason"] = "time_limit"
            self._finish()
        return obs, 0.0, False, truncated, info

    def _fault(self, reason: str, message: str, info: dict):
        """Stops the arm and ends the episode, keeping the last good observation."""
        try:
            self.arm.stop()
        except ArmError as e:  # a lost connection cannot stop the arm; say so, keep going
            message = f"{message}; stopping the arm also failed: {e}"
        self._finish()
        info.update(end_reason=reason, fault=message)
        return self._last_obs, 0.0, False, True, info

    def _finish(self) -> None:
        self._done = True
        self.guarded.end_episode()

    def _observe(self, state) -> dict:
        rotation = rpy_to_matrix(state.ee_rpy_offset) @ self._nominal
        quat = np.zeros(4)  # the sim's convention: (w, x, y, z), sign as mju_mat2Quat gives it
        mujoco.mju_mat2Quat(quat, rotation.ravel())
        proprio = np.concatenate(
            [state.ee_position, quat, [state.gripper_width], state.joint_positions]
        ).astype(np.float32)
        obs = {"proprio": proprio}
        if self.cameras:
            frames = self.rig.read(wait_new=True)  # never an image already observed
            obs["images"] = {
                c: resize_image(frames[c].image, self.image_size) for c in self.cameras
            }
        self._last_obs = obs
        return obs

    # ----- e-stop (the hook `rrl estop` reaches through the env actor; SimEnv has the same) ----
    def set_estop(self, reason: str) -> None:
        """Sets the safety layer's e-stop: the watchdog stops the arm within its poll, the running
        episode ends with end_reason "estop", and reset() refuses until clear_estop(). Safe from
        another thread."""
        self.safety.set_estop(reason)

    def clear_estop(self) -> None:
        self.safety.clear_estop()

    @property
    def estopped(self) -> bool:
        return self.safety.estopped

    def render(self):
        return None if self._last_obs is None else self._last_obs.get("images", {}).get("front")

    def render_camera(self, camera: str) -> np.ndarray:
        return resize_image(self.rig.cameras[camera].read().image, self.image_size)

    def close(self):
        previous = getattr(self, "_previous_handler", None)
        if previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(*previous)
            self._previous_handler = None
        guarded = getattr(self, "guarded", None)
        if guarded is not None:
            guarded.close()
        self.rig.close()
        arm = getattr(self, "arm", None)
        if self._own_arm and arm is not None:
            arm.close()
            self.arm = None
