"""`rrl ablate`: one experiment, several reward sources, same seeds; one plot and one table.

    rrl ablate widowx_open_drawer_dsrl --rewards oracle,noisy_oracle:target_mae=0.665,noisy_oracle:target_mae=0.906
    rrl ablate widowx_open_drawer_dsrl --rewards oracle,roboreward:base_url=http://127.0.0.1:8000/v1

Each reward spec is `name[:key=value[:key=value]]`. Every source trains from the same base policy
with the same episode seeds; afterwards each run's policy is evaluated on the same held-out seeds.
Writes `<runs_dir>/ablate-<config>-<time>/` with one run directory per source, `success.png`
(success rate against episodes per source), `table.md` and `results.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from configs import get_config  # noqa: E402
from configs.overrides import apply_overrides, config_to_dict  # noqa: E402
from experiments.rundir import RunDir, fresh_dir  # noqa: E402
from experiments.training.base_policy import pretrained_dir  # noqa: E402
from experiments.training.evaluate import evaluate_run  # noqa: E402
from experiments.training.report import moving_mean, scored_rows  # noqa: E402
from experiments.training.train import train  # noqa: E402

__all__ = ["parse_reward_specs", "main"]


def parse_reward_specs(text: str) -> list[tuple[str, list[str]]]:
    """'oracle,noisy_oracle:target_mae=0.6' -> [(label, overrides), ...]."""
    specs = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, *settings = item.split(":")
        for setting in settings:
            if "=" not in setting:
                raise ValueError(f"reward spec {item!r}: settings look like key=value, got {setting!r}")
        overrides = [f"reward.name={name}"] + [f"reward.{s}" for s in settings]
        specs.append((item.replace(":", "_").replace("=", "-"), overrides))
    if not specs:
        raise ValueError("--rewards names no reward source")
    return specs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl ablate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="key.path=value, applied to every run")
    parser.add_argument("--rewards", required=True, help="comma-separated reward specs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        base = apply_overrides(get_config(args.config), args.overrides)
        specs = parse_reward_specs(args.rewards)
        # Check every source's settings before the first run starts.
        configs = [(label, apply_overrides(base, overrides)) for label, overrides in specs]
    except ValueError as error:
        print(f"rrl ablate: {error}", file=sys.stderr)
        return 2
    out = args.out or fresh_dir(Path(base.run.runs_dir), f"ablate-{base.name}")
    results = {}
    fig, ax = plt.subplots(figsize=(7, 4))
    # One base policy for every source: pretrained where the base config keeps it.
    base_policy = str(pretrained_dir(base))
    for label, config in configs:
        config = dataclasses.replace(
            config, run=dataclasses.replace(config.run, runs_dir=str(out)),
            pretrain=dataclasses.replace(config.pretrain, checkpoint=base_policy),
        )
        run = RunDir(out / label).create()
        run.write_config(config_to_dict(config))
        print(f"=== {label}: {run.root}", flush=True)
        train(config, run)
        rows = scored_rows(run)
        success = np.array([bool(r["is_success"]) for r in rows], float)
        ax.plot([r["episode_index"] for r in rows], moving_mean(success), label=label)
        evaluation = evaluate_run(run.root, config.run.eval_episodes)
        results[label] = {"run": str(run.root), "training_success_last20": float(success[-20:].mean()) if len(success) else None,
                          **{k: evaluation[k] for k in ("success_rate", "ci95", "mean_oracle_score", "episodes")}}
    ax.set_xlabel("episode")
    ax.set_ylabel("success rate (moving mean of 20)")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{base.name}: reward sources")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "success.png", dpi=100)
    plt.close(fig)
    lines = ["| reward source | eval success | 95% CI | mean oracle score | training success (last 20) |",
             "|---|---|---|---|---|"]
    for label, r in results.items():
        simulated = " (simulated)" if label.startswith("noisy_oracle") else ""
        last = "-" if r["training_success_last20"] is None else f"{r['training_success_last20']:.0%}"
        lines.append(f"| {label}{simulated} | {r['success_rate']:.0%} | {r['ci95'][0]:.0%}-{r['ci95'][1]:.0%} "
                     f"| {r['mean_oracle_score']:.2f} | {last} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))
    print(f"plot and table: {out}")
    return 0
