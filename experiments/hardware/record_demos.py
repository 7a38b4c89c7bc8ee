"""`rrl record-demos`: teleoperate the arm and save demonstrations for BC pretraining.

    rrl record-demos --robot widowx --task pick_place --device spacemouse --episodes 20 \\
        --backend real --cameras front=123622270136 --out runs/demos-widowx
    rrl record-demos --robot franka --task open_drawer --device keyboard --backend sim

Every action goes through the env (on a real robot: the safety layer, watchdog and e-stop of
envs.real). The operator ends each demonstration and keeps or discards it (see robots.teleop for
the keys and buttons); one that reaches the time limit is marked by --at-time-limit. Kept demos
go to `<out>/demos/<id>/` (what experiments.training.base_policy.load_demos reads), discarded ones to
`<out>/discarded/<id>/`, both in the project's episode format with `metadata["demo"]` set.
A demo that ended in a fault (camera lost, refused motion, ...) is always discarded.
Each demo keeps every step's images of --policy-cameras at --image-size, what a pixel policy
(the `*_pixels` configs: front and wrist at 64x64) is pretrained on:
`rrl pretrain widowx_pick_place_dsrl_pixels pretrain.checkpoint=<out>` fits `<out>/demos`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium

import envs
from experiments.rundir import fresh_dir
from robots.cameras import parse_camera_specs
from robots.teleop import make_teleop

__all__ = ["main"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rrl record-demos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--robot", required=True, choices=envs.ROBOTS)
    parser.add_argument("--task", required=True, choices=list(envs.TASKS))
    parser.add_argument("--device", default="keyboard", choices=("spacemouse", "keyboard"))
    parser.add_argument("--backend", default="real", choices=("sim", "real"))
    parser.add_argument("--episodes", type=int, default=10, help="demonstrations to keep")
    parser.add_argument("--max-steps", type=int, default=None, help="time limit per demo (steps)")
    parser.add_argument("--at-time-limit", choices=("keep", "discard"), default="discard")
    parser.add_argument("--control-hz", type=float, default=10.0)
    parser.add_argument("--camera", default="front", help="the reward camera (recorded video)")
    parser.add_argument("--fps", type=float, default=5.0, help="video frame rate")
    parser.add_argument("--image-size", type=int, default=64,
                        help="side of every camera image (the config's env.image_size)")
    parser.add_argument("--policy-cameras", default="front,wrist",
                        help="cameras whose every step is kept for pretraining (the config's "
                             "env.cameras); empty for none")
    parser.add_argument("--ip", help="Franka FCI address (real backend)")
    parser.add_argument("--cameras", default="", help="real backend: name=serial-or-recording,...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=None, help="default runs/demos-<robot>-<task>-<time>"
    )
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.backend == "real" and not args.cameras:
        parser.error("--backend real needs --cameras (front=<serial or recording>,...)")
    args.policy_cameras = tuple(name.strip() for name in args.policy_cameras.split(",") if name.strip())
    if args.backend == "real":
        connected = [spec.name for spec in parse_camera_specs(args.cameras)]
        missing = [name for name in args.policy_cameras if name not in connected]
        if missing:
            parser.error(f"--policy-cameras {missing} are not among --cameras {connected}")
    return args


def make_env(args):
    size = (args.image_size, args.image_size)
    kwargs = {
        "image_size": size,
        "control_hz": args.control_hz,
        "max_episode_steps": args.max_steps,
    }
    if args.backend == "sim":
        cameras = tuple(dict.fromkeys((args.camera, *args.policy_cameras)))
        return envs.make(args.robot, args.task, cameras=cameras, **kwargs)
    specs = {s.name: s.source for s in parse_camera_specs(args.cameras)}
    return envs.make(args.robot, args.task, backend="real", ip=args.ip, cameras=specs, **kwargs)


class EndOnRequest(gymnasium.Wrapper):
    """Ends the episode (truncated, end_reason "operator") at the step after `request_end()`."""

    def __init__(self, env):
        super().__init__(env)
        self._requested = False

    def request_end(self) -> None:
        self._requested = True

    def reset(self, **kwargs):
        self._requested = False
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._requested and not (terminated or truncated):
            truncated = True
            info = {**info, "end_reason": "operator"}
        return obs, reward, terminated, truncated, info


def record_one(recorder, ender: EndOnRequest, device, args) -> str:
    """Runs one demonstration at the control rate; returns "keep", "discard" or "quit"."""
    decision, tick = None, time.monotonic()
    while True:
        command = device.read()
        if command.end is not None:
            decision = command.end
            ender.request_end()
        _, _, terminated, truncated, info = recorder.step(command.action)
        if terminated or truncated:
            if "fault" in info:
                print(f"  fault: {info['fault']}", file=sys.stderr)
                return "quit" if decision == "quit" else "discard"
            return decision or args.at_time_limit
        time.sleep(max(0.0, tick + 1.0 / args.control_hz - time.monotonic()))
        tick = time.monotonic()


def main(argv: list[str], stream=None) -> int:
    args = parse_args(argv)
    out = args.out or fresh_dir(Path("runs"), f"demos-{args.robot}-{args.task}")
    ender = EndOnRequest(make_env(args))
    recorder = envs.EpisodeRecorder(ender, camera=args.camera, fps=args.fps,
                                    policy_cameras=args.policy_cameras)
    kept = discarded = 0
    try:
        with make_teleop(args.device, stream) as device:
            while kept < args.episodes:
                recorder.reset(seed=args.seed + kept + discarded)
                device.reset()
                print(
                    f"demo {kept + discarded + 1}: go ({kept}/{args.episodes} kept)",
                    file=sys.stderr,
                )
                decision = record_one(recorder, ender, device, args)
                keep = decision == "keep"
                episode = recorder.last_episode
                episode.metadata.update(
                    demo="kept" if keep else "discarded", teleop_device=args.device
                )
                folder = out / ("demos" if keep else "discarded") / episode.episode_id
                episode.save(folder)
                kept, discarded = kept + keep, discarded + (not keep)
                print(f"  {'kept' if keep else 'discarded'}: {folder}", file=sys.stderr)
                if decision == "quit":
                    break
    finally:
        recorder.close()
    print(f"record-demos: {kept} kept, {discarded} discarded under {out}")
    return 0
