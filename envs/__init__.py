"""Gymnasium environments for the supported robots and tasks, sim and real.

    env = envs.make("widowx", "pick_place", cameras=("front", "wrist"), seed=0)
    recorder = envs.EpisodeRecorder(env, camera="front", fps=5)
    obs, info = recorder.reset(seed=0)
    while True:
        obs, reward, terminated, truncated, info = recorder.step(policy(obs))
        if terminated or truncated:
            break
    recorder.last_episode.save("runs/demo/episodes/0")

Importing this package registers `rrl/FrankaPickPlace-v0`, `rrl/FrankaOpenDrawer-v0`,
`rrl/WidowXPickPlace-v0`, `rrl/WidowXOpenDrawer-v0`, `rrl/FrankaPickPlaceMulti-v0` and
`rrl/WidowXPickPlaceMulti-v0`. MuJoCo renders through EGL unless
MUJOCO_GL is already set, so it works on machines with no display and no GPU.
"""

from __future__ import annotations

import os

# Must happen before mujoco is first imported anywhere in the process.
os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium  # noqa: E402

from envs.dm_env_adapter import to_dm_env  # noqa: E402
from envs.episode import Episode, new_episode_id  # noqa: E402
from envs.recorder import EpisodeRecorder  # noqa: E402
from envs.tasks import TASKS  # noqa: E402
from robots.specs import ARM_SPECS  # noqa: E402

__all__ = ["make", "Episode", "EpisodeRecorder", "to_dm_env", "new_episode_id", "ROBOTS", "TASKS"]

ROBOTS = tuple(ARM_SPECS)
BACKENDS = ("sim", "real")

_GYM_IDS = {
    ("franka", "pick_place"): "rrl/FrankaPickPlace-v0",
    ("franka", "open_drawer"): "rrl/FrankaOpenDrawer-v0",
    ("widowx", "pick_place"): "rrl/WidowXPickPlace-v0",
    ("franka", "pick_place_multi"): "rrl/FrankaPickPlaceMulti-v0",
    ("widowx", "pick_place_multi"): "rrl/WidowXPickPlaceMulti-v0",
    ("widowx", "open_drawer"): "rrl/WidowXOpenDrawer-v0",
}


def make(robot: str, task: str, backend: str = "sim", **kwargs) -> gymnasium.Env:
    """Builds the env for `robot` ("franka" | "widowx") doing `task` ("pick_place" |
    "pick_place_multi" | "open_drawer").

    backend "sim" gives the MuJoCo twin (keyword arguments: cameras, image_size, control_hz,
    max_episode_steps, seed, randomize_colors, ...; see envs.sim.env.SimEnv); "real" the
    hardware env composed from robots/ (see envs.real).
    """
    if robot not in ROBOTS:
        raise ValueError(f"envs.make: unknown robot {robot!r}; expected one of {list(ROBOTS)}")
    if task not in TASKS:
        raise ValueError(f"envs.make: unknown task {task!r}; expected one of {list(TASKS)}")
    if backend == "sim":
        from envs.sim.env import SimEnv

        return SimEnv(robot=robot, task=task, **kwargs)
    if backend == "real":
        from envs.real import RealEnv

        return RealEnv(robot=robot, task=task, **kwargs)
    raise ValueError(f"envs.make: unknown backend {backend!r}; expected one of {list(BACKENDS)}")


def _register() -> None:
    for (robot, task), gym_id in _GYM_IDS.items():
        if gym_id not in gymnasium.registry:
            gymnasium.register(
                id=gym_id,
                entry_point="envs.sim.env:SimEnv",
                kwargs={"robot": robot, "task": task},
            )


_register()
