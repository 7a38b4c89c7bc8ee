"""`rrl pretrain <config>`: BC-pretrain the base diffusion policy on scripted demonstrations.

    rrl pretrain widowx_pick_place_dsrl [key.path=value ...] [--force]

Records `pretrain.demo_episodes` noisy scripted-expert episodes (in the project's episode format,
as teleoperated demos on a real robot would be), fits the diffusion policy by behaviour cloning and
writes the checkpoint that `rrl train` starts from: `pretrain.checkpoint`, or by default
`<runs_dir>/pretrained/<robot>_<task>-<hash of the settings>/`. `rrl train` runs this itself
when the checkpoint is missing.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import shutil
import time
from pathlib import Path

import jax

import envs
from agents.checkpoint import load_diffusion, save_diffusion
from agents.observation import make_obs
from agents.pretrain import pretrain_diffusion
from configs import get_config
from configs.experiment import ExperimentConfig
from configs.overrides import apply_overrides
from envs.sim.env import STATE_FIELDS
from envs.sim.experts import EXPERT_VERSION
from experiments.training.rollouts import expert_episode, make_recorder

__all__ = ["pretrained_dir", "ensure_pretrained", "load_demos", "main"]


def pretrained_dir(config: ExperimentConfig) -> Path:
    if config.pretrain.checkpoint:
        return Path(config.pretrain.checkpoint)
    # Runs that differ only in what pretraining does not see share one base policy.
    settings = {"env": dataclasses.asdict(config.env), "pretrain": dataclasses.asdict(config.pretrain),
                "diffusion": dataclasses.asdict(config.agent.diffusion), "seed": config.agent.seed,
                # A new observation layout or expert must not reuse a policy fitted to the old.
                "state_fields": STATE_FIELDS[config.env.task], "expert_version": EXPERT_VERSION}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return Path(config.run.runs_dir) / "pretrained" / f"{config.env.robot}_{config.env.task}-{digest}"


def load_demos(directory: Path) -> list[tuple]:
    """(obs (N + 1, D), actions (N, 7)) of every demonstration episode under `directory`."""
    demos = []
    for path in sorted(p for p in directory.iterdir() if (p / "meta.json").exists()):
        episode = envs.Episode.load(path, with_video=False)
        demos.append((make_obs(episode.proprio, episode.states), episode.actions))
    return demos


def _record_demos(config: ExperimentConfig, directory: Path) -> None:
    settings = config.pretrain
    recorder = make_recorder(config.env)
    directory.mkdir(parents=True, exist_ok=True)
    kept = attempts = successes = 0
    # With successful_only, failed attempts are discarded, as an operator discards a botched
    # teleoperated demonstration; the cap stops a hopeless expert noise from looping forever.
    max_attempts = settings.demo_episodes * (10 if settings.successful_only else 1)
    while kept < settings.demo_episodes and attempts < max_attempts:
        episode = expert_episode(recorder, settings.demo_noise, settings.seed + attempts)
        attempts += 1
        successes += bool(episode.is_success)
        if settings.successful_only and not episode.is_success:
            continue
        episode.save(directory / f"demo-{kept:04d}")
        kept += 1
    recorder.close()
    if kept < settings.demo_episodes:
        raise RuntimeError(
            f"pretrain: only {kept} of {attempts} expert attempts at demo_noise={settings.demo_noise} "
            f"succeeded, short of demo_episodes={settings.demo_episodes}; lower pretrain.demo_noise "
            "or set pretrain.successful_only=false"
        )
    print(f"pretrain: recorded {kept} demonstrations in {directory} ({successes} of {attempts} "
          f"expert attempts successful{', failures discarded' if settings.successful_only else ''})",
          flush=True)


def ensure_pretrained(config: ExperimentConfig, *, force: bool = False) -> tuple[dict, int, Path]:
    """Loads (or first makes) the base policy: (diffusion params, obs_dim, checkpoint folder)."""
    folder = pretrained_dir(config)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Two runs of one config started together (an ablation, two terminals) would otherwise both
    # record into the same folder; the second waits, then loads what the first made.
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _load_or_make(config, folder, force=force)


def _load_or_make(config: ExperimentConfig, folder: Path, *, force: bool) -> tuple[dict, int, Path]:
    checkpoint = folder / "diffusion"
    if checkpoint.exists() and not force:
        params, _, obs_dim = load_diffusion(checkpoint)
        return params, obs_dim, folder
    demos_dir = folder / "demos"
    if force and demos_dir.exists():
        shutil.rmtree(demos_dir)
    if not demos_dir.exists():
        # Recorded aside and renamed, so a crash never leaves a half set that looks complete.
        partial = folder / "demos.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _record_demos(config, partial)
        partial.rename(demos_dir)
    demos = load_demos(demos_dir)
    start = time.perf_counter()
    params, metrics = pretrain_diffusion(demos, config.agent.diffusion, jax.random.key(config.agent.seed))
    obs_dim = int(demos[0][0].shape[1])
    save_diffusion(checkpoint, params, config.agent.diffusion, obs_dim, metrics)
    print(f"pretrain: fitted the diffusion policy in {time.perf_counter() - start:.0f} s "
          f"({config.agent.diffusion.pretrain_steps} steps, final loss "
          f"{metrics.get('loss_final', float('nan')):.4f}) -> {checkpoint}", flush=True)
    return params, obs_dim, folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="a named config (see `rrl train --list`)")
    parser.add_argument("overrides", nargs="*", help="key.path=value")
    parser.add_argument("--force", action="store_true", help="record new demos and refit")
    args = parser.parse_args(argv)
    config = apply_overrides(get_config(args.config), args.overrides)
    _, _, folder = ensure_pretrained(config, force=args.force)
    print(f"base policy: {folder / 'diffusion'}")
    return 0
