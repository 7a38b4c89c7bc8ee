"""`rrl rollout`: run the scripted expert in a sim twin and write the recorded episodes.

    rrl rollout --robot widowx --task pick_place --episodes 4 --noise 0.1 --out runs/demo

Writes `<out>/episodes/<id>/{video.mp4, episode.npz, meta.json}` and prints each episode's
oracle score. It is the quickest check that MuJoCo, EGL rendering and video encoding work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import envs
from experiments.rundir import RunDir, fresh_dir
from experiments.training.rollouts import expert_episode


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rrl rollout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--robot", default="widowx", choices=envs.ROBOTS)
    parser.add_argument("--task", default="pick_place", choices=list(envs.TASKS))
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--noise", type=float, default=0.1, help="expert action noise (std)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=5.0, help="reward-camera video frame rate")
    parser.add_argument("--camera", default="front", help="the reward camera")
    parser.add_argument("--image-size", type=int, default=128, help="square image size")
    parser.add_argument("--policy-cameras", default="",
                        help="cameras whose every step is kept, as for a pixel policy (e.g. front,wrist)")
    parser.add_argument("--out", type=Path, default=None, help="default runs/rollout-<time>")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    out = args.out or fresh_dir(Path("runs"), f"rollout-{args.robot}-{args.task}")
    policy_cameras = tuple(name for name in args.policy_cameras.split(",") if name)
    cameras = tuple(dict.fromkeys((args.camera, *policy_cameras)))
    env = envs.make(args.robot, args.task, cameras=cameras, image_size=(args.image_size, args.image_size))
    recorder = envs.EpisodeRecorder(env, camera=args.camera, fps=args.fps, policy_cameras=policy_cameras)
    successes = 0
    for index in range(args.episodes):
        episode = expert_episode(recorder, args.noise, args.seed + index)
        path = episode.save(RunDir(out).episode_path(episode.episode_id))
        successes += bool(episode.is_success)
        print(
            f"[{index + 1}/{args.episodes}] {episode.task!r}: oracle score "
            f"{episode.oracle_score}, {len(episode.frames)} frames -> {path}"
        )
    env.close()
    print(f"{successes}/{args.episodes} successes; episodes in {out / 'episodes'}")
    return 0
