"""`EpisodeRecorder`: a wrapper that turns a rollout into an `envs.Episode`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from envs.episode import Episode, new_episode_id

__all__ = ["EpisodeRecorder"]

# Per-step info entries that are kept in the episode (scalars only; the task text is constant).
_SKIPPED_INFO_KEYS = frozenset({"task"})


class EpisodeRecorder(gymnasium.Wrapper):
    """Records the reward camera at `fps` plus every action and observation of each episode, and
    every step's images of `policy_cameras` (the cameras the policy sees) at policy resolution.

    The finished episode is `recorder.last_episode` once a step returns terminated or truncated.
    Frames are taken on a fixed schedule (control steps whose time crosses a new 1/fps slot); the
    final observation's frame is always kept, since reward models judge the final state.
    """

    def __init__(
        self,
        env: gymnasium.Env,
        camera: str = "front",
        fps: float = 5.0,
        episode_id_fn: Callable[[], str] = new_episode_id,
        policy_cameras: tuple[str, ...] = (),
    ):
        super().__init__(env)
        control_hz = float(getattr(env.unwrapped, "control_hz", 0) or 0)
        if not control_hz > 0:
            raise ValueError("EpisodeRecorder: the env must expose a positive `control_hz`")
        if not 0 < fps <= control_hz:
            raise ValueError(
                f"EpisodeRecorder: fps must be in (0, control_hz={control_hz}], got {fps}"
            )
        self.camera = camera
        self.policy_cameras = tuple(policy_cameras)
        self.fps = float(fps)
        self.control_hz = control_hz
        self.episode_id_fn = episode_id_fn
        self.last_episode: Episode | None = None
        self._reset_buffers(seed=None)

    def _reset_buffers(self, seed: int | None) -> None:
        self._frames: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._proprio: list[np.ndarray] = []
        self._states: list[np.ndarray] = []
        self._policy_images: dict[str, list[np.ndarray]] = {name: [] for name in self.policy_cameras}
        self._infos: list[dict[str, Any]] = []
        self._step = 0
        self._frame_recorded_at_step = -1
        self._seed = seed
        self._started_at = time.time()

    def _frame(self, obs: dict) -> np.ndarray:
        images = obs.get("images") or {}
        if self.camera in images:
            return np.array(images[self.camera], copy=True)
        return self.env.unwrapped.render_camera(self.camera)

    def _record(self, obs: dict, *, force_frame: bool = False) -> None:
        self._proprio.append(np.asarray(obs["proprio"], np.float32))
        if "state" in obs:
            self._states.append(np.asarray(obs["state"], np.float32))
        images = obs.get("images") or {}
        for name, kept in self._policy_images.items():
            if name not in images:
                raise ValueError(
                    f"EpisodeRecorder: the policy sees camera {name!r}, the observation has "
                    f"images of {sorted(images)}"
                )
            kept.append(np.array(images[name], np.uint8, copy=True))
        slot = int(np.floor(self._step * self.fps / self.control_hz + 1e-9))
        previous = int(np.floor((self._step - 1) * self.fps / self.control_hz + 1e-9))
        if self._step == 0 or slot > previous or force_frame:
            if self._frame_recorded_at_step != self._step:
                self._frames.append(self._frame(obs))
                self._frame_recorded_at_step = self._step

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._reset_buffers(seed)
        self._record(obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._step += 1
        self._actions.append(np.asarray(action, np.float32))
        self._infos.append(
            {k: v for k, v in info.items() if k not in _SKIPPED_INFO_KEYS and np.ndim(v) == 0}
        )
        done = bool(terminated or truncated)
        self._record(obs, force_frame=done)
        if done:
            self.last_episode = self._finish(info, terminated=terminated)
        return obs, reward, terminated, truncated, info

    def _finish(self, info: dict, *, terminated: bool) -> Episode:
        unwrapped = self.env.unwrapped
        score = info.get("progress_score")
        success = info.get("is_success")
        return Episode(
            episode_id=self.episode_id_fn(),
            task=str(info.get("task", getattr(unwrapped, "instruction", ""))),
            frames=np.stack(self._frames),
            fps=self.fps,
            robot=str(getattr(unwrapped, "robot", "")),
            task_name=str(getattr(unwrapped, "task_name", "")),
            actions=np.stack(self._actions),
            proprio=np.stack(self._proprio),
            states=np.stack(self._states) if self._states else np.zeros((0, 0), np.float32),
            infos=self._infos,
            policy_images={name: np.stack(kept) for name, kept in self._policy_images.items()},
            oracle_score=None if score is None else int(score),
            is_success=None if success is None else bool(success),
            control_hz=self.control_hz,
            seed=self._seed,
            end_reason=str(info.get("end_reason", "success" if terminated else "time_limit")),
            started_at=self._started_at,
            ended_at=time.time(),
        )
