"""`rrl make-dataset`: reward-model datasets in the RoboReward layout, from the sim or from a run.

    rrl make-dataset --robot widowx --task pick_place --episodes 200 --out data/widowx-pp
    rrl make-dataset --from-run runs/widowx-pick-... --labels human,oracle --out data/lab
    rrl make-dataset ... --clips 2 --counterfactual base_url=http://127.0.0.1:8001/v1 model=Qwen/Qwen3-8B
    rrl make-dataset ... --balance uniform

Writes `<out>/<split>/metadata.jsonl` ({"file_name", "task", "reward", "robot", "source", "seed",
...}) beside H.264 mp4s in `<out>/<split>/<robot>_<task>/`, and `<out>/<split>.summary.json`.
From the sim, scripted experts run at the `--noise` levels in turn and the progress oracle labels
each episode. From a run, episodes keep their labels (human first; see --labels).

Negative augmentation, for episodes labelled 5:
  --clips N            N partial-progress clips per episode (the scores the dataset has least of
                       first). Labelled by the oracle on the clip's last frame (sim episodes);
                       for real episodes say --clip-labeller queue (clips become a run directory
                       for the labelling page) or a reward client (roboreward, gemini_er, human)
                       with --clip-options key=value ...; never a fixed guess.
  --counterfactual k=v an OpenAI-compatible chat model proposes an instruction per score 1-4 for
                       the same video; a second call checks each, and only passing ones are kept.
The score balance (rows per score and source) is printed; --balance keeps the largest subset with
the requested shares.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import envs
import reward_clients
from experiments.datasets import (
    DatasetRow,
    SplitWriter,
    balance_counts,
    balance_table,
    parse_balance,
    parse_label_sources,
    select_balanced,
)
from experiments.datasets.augment import Augmenter
from experiments.datasets.counterfactual import CounterfactualConfig
from experiments.datasets.options import client_options, parse_options
from experiments.datasets.sources import Item, run_items, sim_items

__all__ = ["main"]

CLIP_LABELLERS = ("oracle", "queue", "roboreward", "gemini_er", "human")


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    try:
        size = (int(height), int(width or height))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must be N or HxW, e.g. 128 or 96x128") from None
    if not all(16 <= v <= 2048 for v in size):
        raise argparse.ArgumentTypeError(f"size {text!r}: each side must be 16..2048 pixels")
    return size


def _noises(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"noise {text!r} must be a comma list of numbers >= 0") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"noise {text!r} must be a comma list of numbers >= 0")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rrl make-dataset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="dataset root (writes <out>/<split>/)")
    parser.add_argument("--split", default="train")
    sim = parser.add_argument_group("from the sim")
    sim.add_argument("--robot", choices=envs.ROBOTS)
    sim.add_argument("--task", choices=list(envs.TASKS))
    sim.add_argument("--episodes", type=int, default=100)
    sim.add_argument("--noise", type=_noises, default=(0.0, 0.2, 0.4, 0.8, 1.5), help="expert noise levels, in turn")
    sim.add_argument("--camera", default="front")
    sim.add_argument("--seed", type=int, default=0, help="first episode's seed (episode i uses seed + i)")
    run = parser.add_argument_group("from a run directory")
    run.add_argument("--from-run", type=Path, default=None)
    run.add_argument("--labels", default="human,oracle,reward", help="label sources, in order of preference")
    video = parser.add_argument_group("videos")
    video.add_argument("--fps", type=float, default=None, help="video frame rate (sim default 5; run: kept)")
    video.add_argument("--size", type=_size, default=None, help="N or HxW pixels (sim default 128; run: kept)")
    aug = parser.add_argument_group("negative augmentation and balance")
    aug.add_argument("--clips", type=int, default=0, help="partial-progress clips per episode labelled 5")
    aug.add_argument("--clip-labeller", default="oracle", choices=CLIP_LABELLERS)
    aug.add_argument("--clip-options", nargs="*", default=[], metavar="KEY=VALUE",
                     help="the clip labeller's client options")
    aug.add_argument("--counterfactual", nargs="*", default=None, metavar="KEY=VALUE",
                     help="relabel episodes labelled 5 with a chat model (its options)")
    aug.add_argument("--balance", type=parse_balance, default=None, help="'uniform' or score=weight,...")
    args = parser.parse_args(argv)
    if (args.from_run is None) == (args.robot is None or args.task is None):
        parser.error("give either --robot and --task (sim) or --from-run RUN_DIR")
    if args.episodes < 1 or args.clips < 0:
        parser.error(f"--episodes must be >= 1 and --clips >= 0, got {args.episodes} and {args.clips}")
    if args.clip_options and args.clip_labeller in ("oracle", "queue"):
        parser.error(f"--clip-options are for a reward client labeller, not {args.clip_labeller!r}")
    if args.fps is not None and not args.fps > 0:
        parser.error(f"--fps must be positive, got {args.fps}")
    if args.from_run is None:
        args.fps, args.size = args.fps or 5.0, args.size or (128, 128)
    return args


def build(args: argparse.Namespace) -> dict:
    """Makes the dataset `args` describe; returns the summary written beside it."""
    start = time.monotonic()
    # Every setting is checked before anything is written.
    clip_client = None
    if args.clips and args.clip_labeller not in ("oracle", "queue"):
        clip_client = (args.clip_labeller, client_options(args.clip_labeller, args.clip_options))
    relabel = None
    if args.counterfactual is not None:
        relabel = CounterfactualConfig(**parse_options(CounterfactualConfig, args.counterfactual, "counterfactual"))
    if args.from_run is not None:
        items = run_items(args.from_run, parse_label_sources(args.labels), fps=args.fps, size=args.size,
                          frames_for_score=5 if args.clips else None)
    else:
        items = sim_items(args.robot, args.task, episodes=args.episodes, noises=args.noise, seed=args.seed,
                          fps=args.fps, size=args.size, camera=args.camera)
    writer = SplitWriter(args.out / args.split)
    augmenter = Augmenter(writer, clips=args.clips, clip_labeller=args.clip_labeller, clip_client=clip_client,
                          fps=args.fps, size=args.size, rng=np.random.default_rng(args.seed),
                          queue_dir=args.out / "label_queue", source_run=args.from_run)
    try:
        return _build(args, writer, augmenter, items, relabel, start)
    except BaseException:
        writer.discard()  # no half-written split left behind
        raise
    finally:
        augmenter.close()


def _build(
    args: argparse.Namespace, writer: SplitWriter, augmenter: Augmenter, items: Iterator[Item],
    relabel: CounterfactualConfig | None, start: float,
) -> dict:
    for row, mp4, episode in items:
        augmenter.add(row, mp4, episode)
        if len(augmenter.rows) % 50 == 0:
            print(f"make-dataset: {len(augmenter.rows)} rows", file=sys.stderr)
    augmenter.flush()
    generated_s = time.monotonic() - start
    if relabel is not None:
        augmenter.counterfactuals(relabel)
    rows: list[DatasetRow] = augmenter.rows
    print("score balance (rows per score and source):\n" + balance_table(rows))
    balance = None
    if args.balance is not None:
        rows, balance = select_balanced(rows, args.balance, np.random.default_rng(args.seed))
        print(f"balanced to the target: {len(rows)} rows (limited by score {balance['limited_by']}):\n"
              + balance_table(rows))
    path = writer.finish(rows)
    videos = sum(1 for r in augmenter.rows if r.source in ("sim", "clip", "run"))
    summary = {
        "metadata": str(path), "rows": len(rows), "rows_before_balance": len(augmenter.rows),
        "balance": balance, "counts": balance_counts(rows),
        "labellers": dict(collections.Counter(str(r.extra.get("labeller", "?")) for r in rows)),
        "notes": dict(augmenter.notes), "generation_s": generated_s,
        "videos_per_min": 60 * videos / generated_s if generated_s > 0 else None,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    (args.out / f"{args.split}.summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print("make-dataset: labels by " + ", ".join(f"{k} ({v})" for k, v in sorted(summary["labellers"].items())))
    for note, count in sorted(augmenter.notes.items()):
        print(f"make-dataset: {note}: {count}")
    print(f"make-dataset: {len(rows)} rows in {path} ({summary['videos_per_min']:.0f} videos/min generated)")
    if (args.out / "label_queue").is_dir():
        print(f"make-dataset: label the queued clips with `rrl dashboard --run {args.out / 'label_queue'}`, then "
              f"export them with `rrl make-dataset --from-run {args.out / 'label_queue'} --labels human --out ...`")
    return summary


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        build(args)
    except (FileNotFoundError, FileExistsError, ValueError, reward_clients.RewardClientError) as error:
        print(f"rrl make-dataset: {error}", file=sys.stderr)
        return 2
    return 0
