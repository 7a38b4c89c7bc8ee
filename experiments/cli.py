"""The `rrl` command line: one subcommand per capability.

Each subcommand lives in its own module exposing `main(argv: list[str]) -> int`, imported only
when used, so `rrl --help` stays fast and a missing optional dependency (franky, a browser)
only affects the subcommand that needs it. `rrl bench <name>` runs `experiments.bench_<name>`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "pretrain": ("experiments.training.base_policy", "BC-pretrain the base diffusion policy on demonstrations"),
    "train": ("experiments.training.train", "run RL: env actors, reward actor, learner (local Ray or cluster)"),
    "estop": ("experiments.training.estop", "stop every arm of a running `rrl train` now (--clear to go on)"),
    "evaluate": ("experiments.training.evaluate", "success rate of a run's policy (or its base policy)"),
    "ablate": ("experiments.training.ablate", "the same experiment with several reward sources"),
    "record-demos": ("experiments.hardware.record_demos", "teleoperate the arm and save demonstrations"),
    "rollout": ("experiments.training.scripted_rollout", "roll out a scripted expert in sim and write episodes"),
    "check-hardware": ("experiments.hardware.check_hardware", "read the arm and measure the cameras"),
    "eval-reward": ("experiments.datasets.eval_reward", "score a labelled dataset with a reward client (RoboRewardBench metrics)"),
    "make-dataset": ("experiments.datasets.make_dataset", "write a reward-model dataset from the sim or a run, with negatives"),
    "dashboard": ("experiments.dashboard", "web page for a run: progress, episodes, labelling, agreement"),
    "bench": (None, "run a benchmark: rrl bench env | reward | ..."),
}

BENCHMARKS = {
    "env": "experiments.bench.env",
    "loop": "experiments.bench.loop",
    "reward": "experiments.bench.reward",
    "learner": "experiments.bench.learner",
    "dataset": "experiments.bench.dataset",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="rrl",
        description="Real-robot RL with a vision-language reward model in the loop.",
    )
    parser.add_argument("command", choices=sorted(SUBCOMMANDS), help="what to run")
    lines = [f"  {name:14s} {info[1]}" for name, info in sorted(SUBCOMMANDS.items())]
    parser.epilog = "subcommands:\n" + "\n".join(lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    rest = argv[1:]
    if args.command == "bench":
        if not rest or rest[0] not in BENCHMARKS:
            print(f"rrl bench: name one of {sorted(BENCHMARKS)}", file=sys.stderr)
            return 2
        module_name, rest = BENCHMARKS[rest[0]], rest[1:]
    else:
        module_name = SUBCOMMANDS[args.command][0]
    return int(importlib.import_module(module_name).main(rest) or 0)
