"""`rrl pretrain <config>`: BC-pretrain the base diffusion policy on scripted demonstrations.

    rrl pretrain widowx_pick_place_dsrl [key.path=value ...] [--force]

Records `pretrain.demo_episodes` noisy scripted-expert episodes in sim (in the project's episode
format, as `rrl record-demos` saves teleoperated demos), fits the diffusion policy by behaviour
cloning on what the config's observation spec lets it see (camera images + proprio for the
`*_pixels` configs) and writes the checkpoint that `rrl train` starts from: `pretrain.checkpoint`,
or by default `<runs_dir>/pretrained/<robot>_<task>-<hash of the settings>/`. A folder that already
holds `demos/` (from `rrl record-demos --out FOLDER`) is fitted as it is. The checkpoint records its
observation spec; `rrl train` and `rrl evaluate` refuse one that sees something else than the env.
In sim `rrl train` runs this itself when the checkpoint is missing; on a real arm never.
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
from agents.checkpoint import load_diffusion, read_meta, save_diffusion
from agents.pretrain import pretrain_diffusion
from configs import get_config
from configs.experiment import ExperimentConfig
from configs.overrides import apply_overrides
from envs.observation_spec import ObservationSpec, spec_of_config
from envs.sim.env import STATE_FIELDS
from envs.sim.experts import EXPERT_VERSION
from experiments.training.rollouts import episode_observations, expert_episode, make_recorder

__all__ = ["pretrained_dir", "ensure_pretrained", "load_demos", "refuse_other_spec", "main"]


# The env settings that the demonstrations and the fitted policy depend on (with the spec below).
_PRETRAINING_SEES = ("robot", "task", "control_hz", "max_episode_steps")


def pretrained_dir(config: ExperimentConfig) -> Path:
    if config.pretrain.checkpoint:
        return Path(config.pretrain.checkpoint)
    # Runs that differ only in what pretraining does not see share one base policy (so the
    # reward camera, real-robot settings or a new env field leave it where it is).
    env = {name: getattr(config.env, name) for name in _PRETRAINING_SEES}
    settings = {"env": env, "pretrain": dataclasses.asdict(config.pretrain),
                "diffusion": dataclasses.asdict(config.agent.diffusion), "seed": config.agent.seed,
                # A new observation layout or expert must not reuse a policy fitted to the old.
                "state_fields": STATE_FIELDS[config.env.task], "expert_version": EXPERT_VERSION,
                "observation": spec_of_config(config.env).to_dict()}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return Path(config.run.runs_dir) / "pretrained" / f"{config.env.robot}_{config.env.task}-{digest}"


def load_demos(directory: Path, spec: ObservationSpec) -> list[tuple]:
    """(obs (N + 1, D), actions (N, 7)), with cameras (obs, actions, images (N + 1, C, H, W, 3)),
    of every demonstration episode under `directory`, as a policy seeing `spec` sees them."""
    demos = []
    for path in sorted(p for p in directory.iterdir() if (p / "meta.json").exists()):
        episode = envs.Episode.load(path, with_video=False)
        obs, images = episode_observations(episode, spec)
        demos.append((obs, episode.actions) if images is None else (obs, episode.actions, images))
    if not demos:
        raise FileNotFoundError(f"pretrain: no demonstration episodes in {directory}")
    return demos


def spec_problem(meta: dict, spec: ObservationSpec) -> str | None:
    """Why a checkpoint's sidecar `meta` does not fit `spec` (None: it fits)."""
    if "observation" in meta:
        recorded = ObservationSpec.from_dict(meta["observation"])
        return None if recorded == spec else f"it sees {recorded.describe()}"
    # Checkpoints from before specs were recorded: compare what their sidecar tells.
    config = meta.get("config", {})
    encoder = config.get("encoder") or config.get("diffusion", {}).get("encoder", {})
    cameras = encoder.get("num_cameras", int(bool(encoder.get("use_images", False))))
    if meta.get("obs_dim") == spec.state_size and cameras == len(spec.cameras):
        return None
    return (f"it sees {cameras} camera(s) and a {meta.get('obs_dim')}-number state vector "
            "(it records no observation spec)")


def refuse_other_spec(checkpoint: Path, spec: ObservationSpec) -> None:
    """Refuses checkpoint folder `checkpoint` if it was fitted on other observations than `spec`."""
    problem = spec_problem(read_meta(checkpoint), spec)
    if problem:
        raise ValueError(
            f"checkpoint {checkpoint} does not fit this env: {problem}; the env gives "
            f"{spec.describe()}. Pretrain a base policy for this config (`rrl pretrain <config>`; "
            "the *_pixels configs see what a real arm gives) or use the config it was made for"
        )


def _record_demos(config: ExperimentConfig, directory: Path) -> None:
    settings = config.pretrain
    recorder = make_recorder(config.env)
    directory.mkdir(parents=True, exist_ok=True)
    kept = attempts = successes = 0
    # With successful_only, failed attempts are discarded, as an operator discards a botched
    # teleoperated demonstration; the cap stops a hopeless expert noise from looping forever.
    max_attempts = settings.demo_episodes * (10 if settings.successful_only else 1)
    # A scene with several cloths is demonstrated once per cloth, so that the cloned policy sees
    # every cloth as a goal in each scene; from one demo per scene it learnt a fixed choice per
    # scene, and its noise could seldom steer it to the named cloth.
    cloths = recorder.unwrapped.num_cloths  # 1 for the single-cloth and drawer scenes
    while kept < settings.demo_episodes and attempts < max_attempts:
        scene, cloth = divmod(attempts, cloths)
        episode = expert_episode(recorder, settings.demo_noise, settings.seed + scene,
                                 cloth if cloths > 1 else None)
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
    spec = spec_of_config(config.env)
    if checkpoint.exists() and not force:
        refuse_other_spec(checkpoint, spec)
        params, _, obs_dim = load_diffusion(checkpoint)
        return params, obs_dim, folder
    demos_dir = folder / "demos"
    real = config.env.backend == "real"
    if force and demos_dir.exists() and not real:  # recorded demos are never thrown away
        shutil.rmtree(demos_dir)
    if not demos_dir.exists() and real:
        raise ValueError(
            f"pretrain: no base policy at {checkpoint} and no demos at {demos_dir}; on a real arm "
            "the scripted expert cannot demonstrate (it needs the sim's object state). Pretrain in "
            "sim (`rrl pretrain <config>` with env.backend=sim) and pass pretrain.checkpoint=<that "
            "folder>, or record demos (`rrl record-demos --out FOLDER`) and pass "
            "pretrain.checkpoint=FOLDER"
        )
    if not demos_dir.exists():
        # Recorded aside and renamed, so a crash never leaves a half set that looks complete.
        partial = folder / "demos.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _record_demos(config, partial)
        partial.rename(demos_dir)
    demos = load_demos(demos_dir, spec)
    start = time.perf_counter()
    params, metrics = pretrain_diffusion(demos, config.agent.diffusion, jax.random.key(config.agent.seed))
    obs_dim = int(demos[0][0].shape[1])
    save_diffusion(checkpoint, params, config.agent.diffusion, obs_dim, metrics, observation=spec.to_dict())
    print(f"pretrain: fitted the diffusion policy on {spec.describe()} in {time.perf_counter() - start:.0f} s "
          f"({config.agent.diffusion.pretrain_steps} steps, final loss "
          f"{metrics.get('loss_final', float('nan')):.4f}) -> {checkpoint}", flush=True)
    return params, obs_dim, folder


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl pretrain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="a named config (see `rrl train --list`)")
    parser.add_argument("overrides", nargs="*", help="key.path=value")
    parser.add_argument("--force", action="store_true", help="record new demos and refit")
    args = parser.parse_intermixed_args(argv)  # overrides may come after options
    config = apply_overrides(get_config(args.config), args.overrides)
    _, _, folder = ensure_pretrained(config, force=args.force)
    print(f"base policy: {folder / 'diffusion'}")
    return 0
