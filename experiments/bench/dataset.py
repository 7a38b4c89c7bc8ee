"""`rrl bench dataset`: how fast `rrl eval-reward` and `rrl make-dataset` run.

1. Evaluation throughput: `rrl eval-reward` on a dataset of camera-like videos (10 s at 5 fps,
   128x128 by default) against a local vLLM-shaped server that takes 0.5 s per request, at
   concurrency 8. Target >= 12 videos/s (the floor set by the server is 16).
2. Dataset generation from the sim: `rrl make-dataset` with scripted experts and two clips per
   successful episode, in videos (episodes and clips) per minute.

The local server is the fake vLLM server that ships in reward_clients.testing; it binds
127.0.0.1 and contacts nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envs.video import encode_mp4
from experiments.bench.reward import scene_episode
from experiments.datasets import eval_reward, make_dataset
from reward_clients import testing as reward_servers

TARGET_EVAL_VIDEOS_PER_S = 12.0


def eval_throughput(videos: int, concurrency: int, latency_s: float, size: int, root: Path) -> dict[str, Any]:
    split = root / "bench" / "test"
    lines = []
    for i in range(videos):
        name = f"subset{i % 4}/video{i:04d}.mp4"
        episode = scene_episode(f"bench-{i}", f"task {i}", noise=1.0, seconds=10.0, fps=5.0, size=size)
        (split / name).parent.mkdir(parents=True, exist_ok=True)
        (split / name).write_bytes(encode_mp4(episode.frames, episode.fps))
        lines.append(json.dumps({"file_name": name, "task": f"task {i}", "reward": 1 + i % 5}) + "\n")
    (split / "metadata.jsonl").write_text("".join(lines))
    answers = {f"task {i}": f"ANSWER: {1 + i % 5}" for i in range(videos)}
    out = root / "eval"
    with reward_servers.FakeVLLM(answers=answers, latency_s=latency_s) as server:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = eval_reward.main([str(root / "bench"), f"base_url={server.base_url}", "timeout_s=30",
                                     "--concurrency", str(concurrency), "--out", str(out)])
        elapsed = time.perf_counter() - start
    results = json.loads((out / "results.json").read_text())
    return {
        "videos": videos, "size": size, "concurrency": concurrency, "latency_s": latency_s, "exit_code": code,
        "scoring_videos_per_s": results["videos_per_s"], "end_to_end_s": elapsed,
        "end_to_end_videos_per_s": videos / elapsed, "macro_mae": results["macro_mae"],
        "max_in_flight": server.max_in_flight, "floor_videos_per_s": concurrency / latency_s,
    }


def generation_speed(episodes: int, size: int, clips: int, root: Path) -> dict[str, Any]:
    out = root / "sim"
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = make_dataset.main(["--robot", "widowx", "--task", "pick_place", "--episodes", str(episodes),
                                  "--size", str(size), "--clips", str(clips), "--out", str(out)])
    elapsed = time.perf_counter() - start
    summary = json.loads((out / "train.summary.json").read_text())
    return {
        "episodes": episodes, "size": size, "clips_per_success": clips, "exit_code": code,
        "rows": summary["rows"], "wall_s": elapsed, "videos_per_min": 60 * summary["rows"] / elapsed,
        "episodes_per_min": 60 * episodes / elapsed,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl bench dataset", description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=96, help="videos in the evaluation benchmark")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the local server takes per request")
    parser.add_argument("--size", type=int, default=128, help="video side in pixels (both benchmarks)")
    parser.add_argument("--episodes", type=int, default=20, help="sim episodes for the generation benchmark")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        evaluation = eval_throughput(args.videos, args.concurrency, args.latency, args.size, Path(tmp))
        generation = generation_speed(args.episodes, args.size, 2, Path(tmp))
    ok = evaluation["scoring_videos_per_s"] >= TARGET_EVAL_VIDEOS_PER_S and evaluation["exit_code"] == 0
    print(
        f"eval-reward: {evaluation['videos']} videos ({args.size}x{args.size}, 10 s at 5 fps), server latency "
        f"{args.latency:g} s, concurrency {args.concurrency}: {evaluation['scoring_videos_per_s']:.1f} videos/s "
        f"scoring ({evaluation['end_to_end_videos_per_s']:.1f} end to end with plots; floor "
        f"{evaluation['floor_videos_per_s']:g}), {evaluation['max_in_flight']} in flight at most, "
        f"macro MAE {evaluation['macro_mae']:.3f}"
    )
    print(f"  target >= {TARGET_EVAL_VIDEOS_PER_S:g} videos/s: {'met' if ok else 'MISSED'}")
    print(
        f"make-dataset (sim, widowx pick_place, {args.size}x{args.size}, 2 clips per success): "
        f"{generation['rows']} videos from {generation['episodes']} episodes in {generation['wall_s']:.1f} s = "
        f"{generation['videos_per_min']:.0f} videos/min ({generation['episodes_per_min']:.0f} episodes/min)"
    )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"eval_reward": evaluation, "make_dataset": generation}, indent=1))
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
