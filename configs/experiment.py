"""Frozen dataclass configs of an experiment: env, reward source, agent, pretraining, and the run.

Every field has a comment and every value is checked in `__post_init__`, so a bad override fails
before anything starts. The agent's own settings are `agents.config.AgentConfig`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents.config import AGENT_KINDS, LEGACY_AGENT_KINDS, AgentConfig, EncoderConfig, check_finite

__all__ = [
    "EnvConfig", "RewardConfig", "PretrainConfig", "RunConfig", "ExperimentConfig",
    "encoder_for_env",
]

# The sim twins' cameras (envs.sim.env.CAMERAS, kept here so configs load without MuJoCo); a real
# camera takes one of these names too, so a policy sees the same observation keys on both.
CAMERAS = ("front", "wrist")
_ROBOTS = ("franka", "widowx")
_TASKS = ("pick_place", "pick_place_multi", "open_drawer")
_REWARD_NAMES = ("oracle", "noisy_oracle", "random", "roboreward", "gemini_er", "human")


def _choice(owner: str, name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {list(allowed)}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """Which robot and task, and how episodes are observed and recorded."""

    robot: str = "widowx"  # "franka" | "widowx"
    task: str = "pick_place"  # "pick_place" | "pick_place_multi" | "open_drawer"
    backend: str = "sim"  # "sim" (MuJoCo twin) | "real" (hardware, see robots/)
    cameras: tuple[str, ...] = ()  # cameras the policy observes; empty = proprio + state only
    image_size: tuple[int, int] = (128, 128)  # (height, width) of every camera image
    # True: the policy also sees the sim's object state (fast sim variant; a real arm has none).
    # False: proprio and cameras only, as on the real arm; the oracle still scores from the state.
    privileged_state: bool = True
    control_hz: float = 10.0  # control steps per second
    max_episode_steps: int = 0  # steps per episode; 0 = the task's default (80 / 60)
    reward_camera: str = "front"  # the camera whose video the reward source watches
    video_fps: float = 5.0  # frame rate of the recorded reward video
    robot_resource: str = ""  # Ray custom resource that pins the env actor to the robot's host
    # Real robot only (backend "real"):
    robot_ip: str = ""  # the Franka's FCI address (WidowX: unused, the ROS 2 driver is local)
    real_cameras: tuple[str, ...] = ()  # "name=serial" or "name=recording.db3", e.g. front=1236...
    camera_resolution: tuple[int, int] = (640, 480)  # (width, height) each real camera streams
    camera_fps: int = 30  # frame rate each real camera streams
    loop_recordings: bool = False  # recorded real_cameras start again at their end (dry runs)
    scene_reset: str = "prompt"  # between episodes: "prompt" the operator, or "none"
    learner_timeout_s: float = 0.0  # stop the arm when no params arrive for this long (0 = off)

    def __post_init__(self) -> None:
        check_finite(self)
        _choice("EnvConfig", "robot", self.robot, _ROBOTS)
        _choice("EnvConfig", "task", self.task, _TASKS)
        _choice("EnvConfig", "backend", self.backend, ("sim", "real"))
        if not self.control_hz > 0 or not 0 < self.video_fps <= self.control_hz:
            raise ValueError(
                f"EnvConfig: need control_hz > 0 and 0 < video_fps <= control_hz, got "
                f"{self.control_hz} and {self.video_fps}"
            )
        if self.max_episode_steps < 0:
            raise ValueError(f"EnvConfig: max_episode_steps must be >= 0, got {self.max_episode_steps}")
        if self.learner_timeout_s < 0:
            raise ValueError(
                "EnvConfig: learner_timeout_s must be >= 0 seconds (0 = off), got "
                f"{self.learner_timeout_s}"
            )
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            raise ValueError(
                f"EnvConfig: image_size must be (height, width), both >= 1, got {self.image_size!r}"
            )
        if len(self.camera_resolution) != 2 or min(self.camera_resolution) < 1 or self.camera_fps < 1:
            raise ValueError(
                "EnvConfig: camera_resolution must be (width, height) and camera_fps a frame rate, "
                f"all >= 1, got {self.camera_resolution!r} at {self.camera_fps}"
            )
        _choice("EnvConfig", "scene_reset", self.scene_reset, ("prompt", "none"))
        self._check_cameras()

    def _check_cameras(self) -> None:
        for item in self.real_cameras:
            if "=" not in item:
                raise ValueError(
                    f"EnvConfig: real_cameras entries look like front=<serial>, got {item!r}"
                )
            _choice("EnvConfig", "real_cameras names", item.split("=", 1)[0], CAMERAS)
        real_names = [item.split("=", 1)[0] for item in self.real_cameras]
        if len(set(real_names)) != len(real_names):
            raise ValueError(
                f"EnvConfig: real_cameras must name each camera once, got {real_names}"
            )
        # The policy observes sim cameras, or on the robot the cameras that real_cameras connects.
        available = CAMERAS if self.backend == "sim" else tuple(real_names)
        for camera in self.cameras:
            _choice("EnvConfig", "cameras entries", camera, available)
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(
                f"EnvConfig: cameras must name each camera once, got {list(self.cameras)}"
            )
        if self.backend == "real" and self.reward_camera not in real_names:
            raise ValueError(
                f"EnvConfig: the reward camera {self.reward_camera!r} must be one of real_cameras "
                f"(got {real_names}); e.g. env.real_cameras=front=<serial>"
            )
        _choice("EnvConfig", "reward_camera", self.reward_camera, CAMERAS)

    def real_camera_specs(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.real_cameras)

    def make_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `envs.make` for this config."""
        kwargs: dict[str, Any] = {"image_size": self.image_size, "control_hz": self.control_hz}
        if self.max_episode_steps:
            kwargs["max_episode_steps"] = self.max_episode_steps
        if self.backend == "sim":
            kwargs.update(cameras=self.cameras, privileged_state=self.privileged_state)
            return kwargs
        kwargs.update(cameras=self.real_camera_specs(), camera_resolution=self.camera_resolution,
                      camera_fps=self.camera_fps, camera_options={"loop": self.loop_recordings},
                      scene_reset=self.scene_reset, learner_timeout_s=self.learner_timeout_s or None)
        if self.robot_ip:
            kwargs["ip"] = self.robot_ip
        return kwargs


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    """The reward source. `options` are the client's settings (see reward_clients.make)."""

    # "oracle" | "noisy_oracle" | "random" | "roboreward" | "gemini_er" | "human"
    name: str = "oracle"
    options: tuple[tuple[str, Any], ...] = ()  # client settings as (key, value) pairs
    max_concurrency: int = 4  # episodes scored at once by the reward actor
    retry_pending_after_s: float = 5.0  # wait before re-trying an episode whose scoring failed

    def __post_init__(self) -> None:
        check_finite(self)
        _choice("RewardConfig", "name", self.name, _REWARD_NAMES)
        if self.max_concurrency < 1:
            raise ValueError(f"RewardConfig: max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.retry_pending_after_s < 0:
            raise ValueError("RewardConfig: retry_pending_after_s must be >= 0")

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.options)


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Behaviour-cloning pretraining of the base diffusion policy on scripted demonstrations."""

    demo_episodes: int = 50  # scripted-expert episodes recorded as demonstrations
    demo_noise: float = 0.3  # expert action noise: imperfect demos give an imperfect base policy
    successful_only: bool = False  # keep only successful expert attempts (as a teleoperator would)
    checkpoint: str = ""  # base-policy checkpoint to start from; "" = runs/pretrained/<config>
    seed: int = 1000  # seeds of the demonstration episodes (distinct from the run's)

    def __post_init__(self) -> None:
        check_finite(self)
        if self.demo_episodes < 1:
            raise ValueError(f"PretrainConfig: demo_episodes must be >= 1, got {self.demo_episodes}")
        if self.demo_noise < 0:
            raise ValueError(f"PretrainConfig: demo_noise must be >= 0, got {self.demo_noise}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """How long the run is, how many actors it has, and where it writes."""

    episodes: int = 200  # episodes to collect in total (a resumed run continues to this count)
    env_actors: int = 2  # env actors (robots or sim copies) collecting in parallel
    seed: int = 0  # seeds the episodes' scenes (episode k -> seed * 1e6 + k) and the actors
    updates_per_episode: int = 0  # learner updates after each scored episode; 0 = the agent's UTD
    checkpoint_every: int = 20  # learner checkpoint every N scored episodes
    runs_dir: str = "runs"  # parent folder of run directories
    ray_address: str = ""  # "" = start a local Ray; else an existing cluster ("auto", "host:6379")
    learner_gpus: float = 0.0  # GPUs for the learner actor (0 = CPU)
    eval_episodes: int = 20  # episodes per `rrl evaluate` / final evaluation
    # Most episodes collected beyond those the newest params have learned from; 0 = no limit.
    # A robot is slow enough that the learner keeps up; a sim twin steps far faster, and without
    # a limit it would spend the whole run on stale params. With a limit, actors idle while the
    # learner (and the reward source) catch up, so keep 0 for real robots.
    max_learner_lag: int = 0

    def __post_init__(self) -> None:
        check_finite(self)
        for name in ("episodes", "env_actors", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"RunConfig: {name} must be >= 1, got {getattr(self, name)}")
        if min(self.updates_per_episode, self.eval_episodes, self.learner_gpus, self.max_learner_lag) < 0:
            raise ValueError(
                "RunConfig: updates_per_episode, eval_episodes, learner_gpus, max_learner_lag must be >= 0"
            )


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One named experiment: `rrl train <name> key.path=value ...`."""

    name: str  # registry name, used in run directory names
    agent_kind: str = "dsrl"  # "dsrl" | "dsrl_na" | "sac" | "bc" (agents/builders.py)
    env: EnvConfig = EnvConfig()  # robot, task, observation and recording
    reward: RewardConfig = RewardConfig()  # reward source
    agent: AgentConfig = AgentConfig()  # learner settings
    pretrain: PretrainConfig = PretrainConfig()  # base policy
    run: RunConfig = RunConfig()  # length, actors, output

    def __post_init__(self) -> None:
        check_finite(self)
        if self.agent_kind in LEGACY_AGENT_KINDS:  # config.json of a run made before the rename
            object.__setattr__(self, "agent_kind", LEGACY_AGENT_KINDS[self.agent_kind])
        _choice("ExperimentConfig", "agent_kind", self.agent_kind, AGENT_KINDS)
        encoder = self.agent.diffusion.encoder
        wanted = encoder_for_env(encoder, self.env)
        if (encoder.num_cameras, encoder.image_shape[:2] if encoder.uses_images else ()) != (
                wanted.num_cameras, wanted.image_shape[:2] if wanted.uses_images else ()):
            raise ValueError(
                f"ExperimentConfig: the policy's encoder sees {encoder.num_cameras} camera(s) at "
                f"{encoder.image_shape[:2]}, the env gives {list(self.env.cameras)} at "
                f"{self.env.image_size}; set env.cameras and env.image_size (overrides and named "
                "configs derive the encoder from them)"
            )
        if self.env.backend == "real" and self.run.env_actors > 1 and not self.env.robot_resource:
            raise ValueError(
                f"ExperimentConfig: run.env_actors={self.run.env_actors} would drive the one real "
                "arm from several actors at once; set run.env_actors=1, or for one robot per host "
                "give each host one unit of a Ray resource and name it in env.robot_resource"
            )


def encoder_for_env(encoder: EncoderConfig, env: EnvConfig) -> EncoderConfig:
    """`encoder` with num_cameras and image_shape taken from the env's policy cameras (named
    configs and `apply_overrides` build their encoder with it)."""
    if not env.cameras:
        return dataclasses.replace(encoder, num_cameras=0)
    return dataclasses.replace(encoder, num_cameras=len(env.cameras),
                               image_shape=(*(int(v) for v in env.image_size), 3))
