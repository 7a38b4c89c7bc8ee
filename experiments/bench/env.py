"""`rrl bench env`: control steps per second of every sim twin, beside gym_hil's Panda env.

    rrl bench env [--steps 600] [--gym-hil-python .venv-gymhil/bin/python] [--json out.json]

For each env it measures state-only steps/s and steps/s with both 128x128 cameras (random
actions, resets included), and splits a step's time into physics, controller (IK) and
rendering. gym_hil pins mujoco < 3.9, which cannot share a virtualenv with ours, so its env runs
in a subprocess with the interpreter of a separate virtualenv (`make bench` creates it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

import envs

_GYM_HIL_SCRIPT = """
import json, sys, time
import gymnasium as gym, gym_hil  # noqa: F401
steps = int(sys.argv[1]); out = {}
for image_obs in (False, True):
    env = gym.make("gym_hil/PandaPickCubeBase-v0", image_obs=image_obs)
    env.reset(seed=0); env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    out["images" if image_obs else "state"] = steps / (time.perf_counter() - start)
print(json.dumps(out))
"""


def _steps_per_second(env, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def _breakdown(env, steps: int) -> dict[str, float]:
    """Milliseconds per control step spent in the controller, physics and two camera renders."""
    rng = np.random.default_rng(1)
    env.reset(seed=1)
    unwrapped = env.unwrapped
    actions = rng.uniform(-1, 1, (steps, 7))
    start = time.perf_counter()
    for action in actions:
        unwrapped.controller.command(action)
    controller = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        mujoco.mj_step(unwrapped.model, unwrapped.data, nstep=unwrapped.n_substeps)
    physics = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        for camera in ("front", "wrist"):
            unwrapped.render_camera(camera)
    render = time.perf_counter() - start
    return {
        k: 1000 * v / steps
        for k, v in (
            ("controller_ms", controller),
            ("physics_ms", physics),
            ("render_2cams_ms", render),
        )
    }


def _gym_hil(python: str, steps: int) -> dict[str, float] | None:
    if not Path(python).exists():
        print(f"gym_hil: no interpreter at {python} (run `make bench` to create it); skipped")
        return None
    try:
        result = subprocess.run(
            [python, "-c", _GYM_HIL_SCRIPT, str(steps)],
            capture_output=True,
            text=True,
            timeout=900,
            env={"MUJOCO_GL": "egl", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        print("gym_hil: benchmark timed out after 900 s; skipped")
        return None
    if result.returncode != 0:
        print(f"gym_hil: benchmark failed:\n{result.stderr[-2000:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rrl bench env",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=600, help="control steps per measurement")
    parser.add_argument("--gym-hil-python", default=".venv-gymhil/bin/python")
    parser.add_argument("--gym-hil-steps", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    rows = {}
    for robot in envs.ROBOTS:
        for task in envs.TASKS:
            name = f"{robot}/{task}"
            state_env = envs.make(robot, task, cameras=())
            camera_env = envs.make(robot, task, cameras=("front", "wrist"), image_size=(128, 128))
            rows[name] = {
                "state_steps_per_s": _steps_per_second(state_env, args.steps),
                "camera_steps_per_s": _steps_per_second(camera_env, max(1, args.steps // 2)),
                **_breakdown(camera_env, max(1, args.steps // 4)),
            }
            camera_env.close()
            print(
                f"{name:22s} state {rows[name]['state_steps_per_s']:8.0f} steps/s   "
                f"2 cameras {rows[name]['camera_steps_per_s']:6.0f} steps/s   "
                f"controller {rows[name]['controller_ms']:.3f} ms  physics "
                f"{rows[name]['physics_ms']:.3f} ms  render {rows[name]['render_2cams_ms']:.3f} ms",
                flush=True,
            )

    hil = _gym_hil(args.gym_hil_python, args.gym_hil_steps)
    result = {"envs": rows, "gym_hil_PandaPickCubeBase-v0": hil}
    if hil:
        print(
            f"{'gym_hil PandaPickCube':22s} state {hil['state']:8.0f} steps/s   "
            f"2 cameras {hil['images']:6.1f} steps/s"
        )
        for name, row in rows.items():
            print(
                f"{name:22s} x{row['state_steps_per_s'] / hil['state']:.1f} state, "
                f"x{row['camera_steps_per_s'] / hil['images']:.1f} with cameras vs gym_hil"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
