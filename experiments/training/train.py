"""`rrl train`: the RL loop on a local Ray or a Ray cluster.

    rrl train widowx_pick_place_dsrl [key.path=value ...] [--address auto] [--run-dir DIR]
    rrl train --resume runs/widowx_pick_place_dsrl-20261126-101500
    rrl train widowx_pick_place_dsrl --help    # every key, its current value and what it does

Checks the config, starts (or joins) Ray, makes sure the base policy exists, runs the loop
(experiments/training/loop.py) and writes the report.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import ray

from agents.builders import agent_builder
from configs import get_config, names
from configs.describe import describe_config
from configs.experiment import ExperimentConfig
from configs.overrides import apply_overrides, config_from_json, config_to_dict
from experiments.rundir import RunDir, fresh_dir
from experiments.training.base_policy import ensure_pretrained, load_demos
from experiments.training.loop import RewardSourceError, TrainingRun

__all__ = ["init_ray", "check_runnable", "train", "main"]


def init_ray(address: str = "") -> None:
    """Joins the cluster at `address`, or starts a local Ray sized for this machine."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address)
    else:
        # A private local Ray needs no token; a cluster keeps whatever auth it was set up with.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        # Logical CPUs: env actors and the learner each ask for one, so allow a little
        # oversubscription on small machines rather than leaving an actor unscheduled.
        ray.init(num_cpus=max(os.cpu_count() or 1, 4), include_dashboard=False,
                 log_to_driver=True)


def check_runnable(config: ExperimentConfig) -> None:
    """Refuses, before anything starts, what cannot work inside Ray actors."""
    if config.reward.name == "human" and not config.reward.settings.get("web"):
        raise ValueError(
            "the human reward in `rrl train` is given on the web page: add reward.web=true and "
            "open `rrl dashboard --run <run-dir>` (a Ray actor has no terminal to ask on)"
        )


def train(config: ExperimentConfig, run: RunDir, *, wait_rewards_s: float = 300.0) -> RunDir:
    """Runs (or resumes) the experiment in `run`; returns the run directory."""
    check_runnable(config)
    init_ray(config.run.ray_address)  # before JAX starts threads in this process
    diffusion_params, obs_dim, pretrained = ensure_pretrained(config)
    demos = load_demos(pretrained / "demos") if agent_builder(config.agent_kind).uses_demos else []
    training = TrainingRun(config, run)
    try:
        training.start(diffusion_params, obs_dim, demos)
        training.loop(wait_rewards_s=wait_rewards_s)
    finally:
        training.shutdown()
    from experiments.training.report import write_report

    write_report(run)
    return run


def _describe(name: str, overrides: list[str]) -> int:
    """`rrl train <config> [overrides] --help`: every key with its current value and comment."""
    try:
        config = apply_overrides(get_config(name), overrides)
    except (KeyError, ValueError) as error:
        print(f"rrl train: {error}", file=sys.stderr)
        return 2
    print(describe_config(config))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="a named config; --list shows them")
    parser.add_argument("overrides", nargs="*", help="key.path=value, e.g. run.episodes=50")
    parser.add_argument("--resume", type=Path, help="continue the run in this directory")
    parser.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    parser.add_argument("--run-dir", type=Path, default=None, help="default <runs_dir>/<name>-<time>")
    parser.add_argument("--wait-rewards-s", type=float, default=300.0,
                        help="after collecting, wait this long for pending rewards")
    parser.add_argument("--list", action="store_true", help="list the named configs")
    if argv and not argv[0].startswith("-") and any(word in ("-h", "--help") for word in argv[1:]):
        return _describe(argv[0], [word for word in argv[1:] if "=" in word])
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(names()))
        return 0
    try:
        if args.resume:
            run = RunDir(args.resume)
            config = apply_overrides(config_from_json(run.read_config()), args.overrides)
            if args.overrides:  # e.g. run.episodes=400 to extend a finished run
                run.write_config(config_to_dict(config))
        else:
            if not args.config:
                parser.error("name a config (rrl train --list) or --resume a run directory")
            config = apply_overrides(get_config(args.config), args.overrides)
            check_runnable(config)
            run = RunDir(args.run_dir or fresh_dir(Path(config.run.runs_dir), config.name)).create()
            run.write_config(config_to_dict(config))
        if args.address is not None:
            from dataclasses import replace

            config = replace(config, run=replace(config.run, ray_address=args.address))
        check_runnable(config)
    except (ValueError, FileNotFoundError) as error:
        print(f"rrl train: {error}", file=sys.stderr)
        return 2
    print(f"run directory: {run.root}", flush=True)
    try:
        train(config, run, wait_rewards_s=args.wait_rewards_s)
    except RewardSourceError as error:
        print(f"rrl train: {error}", file=sys.stderr)
        return 1
    print(f"plots and summary: {run.report_dir}", flush=True)
    return 0
