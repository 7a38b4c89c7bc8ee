"""`rrl train`: the RL loop on a local Ray or a Ray cluster.

    rrl train widowx_pick_place_dsrl [key.path=value ...] [--address auto] [--run-dir DIR]
    rrl train --resume runs/widowx_pick_place_dsrl-20261126-101500 [key.path=value ...]
    rrl train widowx_pick_place_dsrl --help    # every key, its current value and what it does

Checks the config, starts (or joins) Ray, makes sure the base policy exists, runs the loop
(experiments/training/loop.py) and writes the report. The local Ray listens on loopback only,
with token authentication, and leaves nothing behind (experiments/training/local_ray.py).
`kill -USR1 <pid>`, `rrl estop RUN_DIR` or the space bar stop every arm of the run until
`rrl estop RUN_DIR --clear` (experiments/training/estop.py); SIGTERM or Ctrl-C stop the run
cleanly, keep every stored episode and print the command that resumes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import ray

from agents.builders import agent_builder
from configs import get_config, names
from configs.describe import describe_config
from configs.experiment import ExperimentConfig
from configs.overrides import apply_overrides, config_from_json, config_to_dict
from envs.observation_spec import spec_of_config
from experiments.rundir import RunDir, fresh_dir
from experiments.training.base_policy import (
    ensure_pretrained,
    load_demos,
    pretrained_dir,
    refuse_other_spec,
)
from experiments.training.estop import operator_estop
from experiments.training.interrupts import RunInterrupted, interrupts_stop_the_run
from experiments.training.local_ray import start_local_ray
from experiments.training.loop import EnvActorError, RewardSourceError, TrainingRun
from reward_clients.transport import TransportConfig

__all__ = ["init_ray", "check_runnable", "train", "main", "resume_config", "RESUMABLE_KEYS"]

# What may change when a run is resumed: how the reward server is reached and waited for, how long
# the run is and how it is spread over machines. Anything else (robot, task, agent, reward model,
# prompt or mapping, seeds) would mix two experiments in one run directory.
RESUMABLE_KEYS = frozenset({
    "run.episodes", "run.env_actors", "run.max_learner_lag", "run.checkpoint_every",
    "run.ray_address", "run.learner_gpus", "run.eval_episodes",
    "env.robot_ip", "env.robot_resource", "env.scene_reset", "env.learner_timeout_s",
    "reward.max_concurrency", "reward.retry_pending_after_s", "reward.api_key_env",
    "reward.answer_timeout_s", "reward.poll_s", "reward.player", "reward.video_dir",
    *(f"reward.{field.name}" for field in dataclasses.fields(TransportConfig)),
})


def init_ray(address: str = "") -> None:
    """Joins the cluster at `address` (with the token its hosts share, README "On a Ray
    cluster"), or starts a local Ray sized for this machine, loopback only (local_ray.py)."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address)
    else:
        # Logical CPUs: env actors and the learner each ask for one, so allow a little
        # oversubscription on small machines rather than leaving an actor unscheduled.
        start_local_ray(num_cpus=max(os.cpu_count() or 1, 4))


def check_runnable(config: ExperimentConfig) -> None:
    """Refuses, before anything starts, what cannot work inside Ray actors, and a base policy
    that would see something else than the env gives."""
    if config.reward.name == "human" and not config.reward.settings.get("web"):
        raise ValueError(
            "the human reward in `rrl train` is given on the web page: add reward.web=true and "
            "open `rrl dashboard --run <run-dir>` (a Ray actor has no terminal to ask on)"
        )
    folder = pretrained_dir(config)
    if config.env.backend == "real" and not (
            (folder / "diffusion").exists() or (folder / "demos").exists()):
        where = f"pretrain.checkpoint={folder} holds neither diffusion/ nor demos/" if (
            config.pretrain.checkpoint) else "no pretrain.checkpoint is given"
        raise ValueError(
            f"on a real arm the base policy comes from a checkpoint or recorded demos, and {where}. "
            "Pretrain in sim with the same config (`rrl pretrain <config>`, e.g. a *_pixels config) "
            "and pass pretrain.checkpoint=<the folder it prints>, or record demos (`rrl record-demos "
            "--out FOLDER`) and pass pretrain.checkpoint=FOLDER"
        )
    if (folder / "diffusion").exists():
        refuse_other_spec(folder / "diffusion", spec_of_config(config.env))


def train(config: ExperimentConfig, run: RunDir, *, wait_rewards_s: float = 300.0) -> RunDir:
    """Runs (or resumes) the experiment in `run`; returns the run directory. Raises
    RunInterrupted on SIGTERM or SIGINT, once the actors are stopped."""
    check_runnable(config)
    if run.checkpoint_path.exists():  # a resumed run's learner must see what the env gives
        refuse_other_spec(run.checkpoint_path, spec_of_config(config.env))
    with operator_estop(run):  # SIGUSR1 and the space bar set the run's e-stop from here on
        init_ray(config.run.ray_address)  # before JAX starts threads in this process
        with interrupts_stop_the_run():  # installed after ray.init, whose handler dumps a stack
            diffusion_params, obs_dim, pretrained = ensure_pretrained(config)
            spec = spec_of_config(config.env)
            demos = load_demos(pretrained / "demos", spec) if agent_builder(config.agent_kind).uses_demos else []
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


def _leaves(value: object, prefix: str = "") -> dict[str, object]:
    """A config dict as {"env.task": ..., "reward.base_url": ...}: the keys overrides use."""
    if not isinstance(value, dict):
        return {prefix.rstrip("."): value}
    out: dict[str, object] = {}
    for key, item in value.items():
        out.update(_leaves(item, "reward." if prefix == "reward." and key == "options" else f"{prefix}{key}."))
    return out


def resume_config(run: RunDir, overrides: list[str]) -> ExperimentConfig:
    """The run's config with `overrides` applied and checked; refuses changes outside
    RESUMABLE_KEYS, naming them."""
    saved = config_from_json(run.read_config())
    config = apply_overrides(saved, overrides)
    before, after = _leaves(config_to_dict(saved)), _leaves(config_to_dict(config))
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    refused = sorted(key for key in changed
                     if not any(key == k or key.startswith(k + ".") for k in RESUMABLE_KEYS))
    if refused:
        raise ValueError(
            f"cannot change {', '.join(refused)} when resuming {run.root}: it would mix two "
            f"experiments in one run directory (start a new run instead); on resume these may "
            f"change: {', '.join(sorted(RESUMABLE_KEYS))}"
        )
    return config


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
    args = parser.parse_intermixed_args(argv)  # overrides may come after --run-dir DIR
    if args.list:
        print("\n".join(names()))
        return 0
    try:
        if args.resume:
            # The config comes from the run: every word is an override (argparse took the first
            # for a config name).
            words = [args.config, *args.overrides] if args.config else args.overrides
            for word in words:
                if "=" not in word:
                    raise ValueError(f"with --resume the config is the run's own: {word!r} must be a "
                                     "key.path=value override (e.g. run.episodes=400)")
            run = RunDir(args.resume)
            config = resume_config(run, words)
            check_runnable(config)
            if words:  # e.g. run.episodes=400 to extend a finished run, a moved reward server
                run.write_config(config_to_dict(config))
        else:
            if not args.config:
                parser.error("name a config (rrl train --list) or --resume a run directory")
            config = apply_overrides(get_config(args.config), args.overrides)
            check_runnable(config)
            if args.run_dir is not None and args.run_dir.exists() and (
                    not args.run_dir.is_dir() or any(args.run_dir.iterdir())):
                raise ValueError(f"{args.run_dir} already exists and a run directory is never "
                                 f"overwritten: continue that run with `rrl train --resume {args.run_dir}`, "
                                 "or name a new folder")
            run = RunDir(args.run_dir or fresh_dir(Path(config.run.runs_dir), config.name)).create()
            # The run names its base policy's folder, so `rrl evaluate --base` and --resume find
            # the very policy it started from.
            config = dataclasses.replace(config, pretrain=dataclasses.replace(
                config.pretrain, checkpoint=str(pretrained_dir(config).resolve())))
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
    except RunInterrupted as stop:
        ray.shutdown()  # Ray's daemons and workers end here, with no stack dumps
        print(f"rrl train: stopped by {stop.signal_name}; every stored episode is kept. "
              f"Continue with: rrl train --resume {run.root}", file=sys.stderr, flush=True)
        return stop.exit_code
    except (RewardSourceError, EnvActorError) as error:
        print(f"rrl train: {error}", file=sys.stderr)
        return 1
    print(f"plots and summary: {run.report_dir}", flush=True)
    return 0
