"""`rrl bench loop`: do the env actors keep stepping while a slow reward model scores?

    rrl bench loop [--episodes 16] [--latency-s 2] [--config widowx_pick_place_dsrl]

Runs the real loop (local Ray, 2 sim env actors, learner) with the `roboreward` client against a
local vLLM-shaped server that takes `--latency-s` per request, and reports each env actor's
utilisation: the share of wall time, from its first episode's start to its last one's end, spent
running episodes rather than waiting (target >= 95 %), plus the learner's updates/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from experiments.rundir import RunDir
from experiments.training.train import train
from reward_clients import testing as reward_servers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl bench loop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="widowx_pick_place_dsrl")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--latency-s", type=float, default=2.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, reward_servers.FakeVLLM(latency_s=args.latency_s) as server:
        config = apply_overrides(get_config(args.config), [
            # No pacing: the figure is how much of the time actors step when nothing holds them.
            f"run.runs_dir={tmp}", f"run.episodes={args.episodes}", "run.env_actors=2", "run.max_learner_lag=0",
            "reward.name=roboreward", f"reward.base_url={server.base_url}",
            "reward.model=teetone/RoboReward-8B", "reward.max_concurrency=8",
        ])
        run = RunDir(Path(tmp) / "run").create()
        run.write_config(config_to_dict(config))
        start = time.perf_counter()
        train(config, run)
        wall = time.perf_counter() - start
        actors = run.metrics("actors")[-1]["utilisation"]
        learner = [row for row in run.metrics("learner") if row.get("updates")]
        rewards = [row["latency_s"] for row in run.metrics("reward") if row.get("latency_s")]
    result = {
        "episodes": args.episodes, "reward_latency_s": args.latency_s, "wall_s": wall,
        "actor_utilisation": [a["utilisation"] for a in actors],
        "mean_reward_latency_s": float(np.mean(rewards)) if rewards else None,
        "learner_updates": int(sum(row["updates"] for row in learner)),
        "learner_updates_per_s": float(np.median([row["updates_per_s"] for row in learner])) if learner else None,
    }
    for i, a in enumerate(actors):
        print(f"env actor {i}: busy {a['busy_s']:.1f} s of {a['wall_s']:.1f} s = {a['utilisation']:.1%}")
    print(f"reward latency {result['mean_reward_latency_s']}, learner {result['learner_updates']} updates "
          f"at {result['learner_updates_per_s']} updates/s (median per call); wall {wall:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0
