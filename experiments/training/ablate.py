"""`rrl ablate`: one experiment, several reward sources, each on several seeds; one plot and one table.

    rrl ablate widowx_open_drawer_dsrl --rewards oracle,noisy_oracle:target_mae=0.665,random --seeds 0,1,2
    rrl ablate widowx_open_drawer_dsrl --rewards oracle,roboreward:base_url=http://127.0.0.1:8000/v1 \\
        --seeds 0,1,2 --eval-episodes 100

Each reward spec is `name[:key=value[:key=value]]` (`random` is the no-information control).
Every source trains on every seed of `--seeds` (default `0`) as `run.seed=S`, from one shared base
policy; the runs of one seed see the same training scenes whatever their source. Afterwards each
run's policy is evaluated on `--eval-episodes` held-out scenes (default the config's
run.eval_episodes): those of evaluation seed S for the runs of seed S, so every source is judged on
the same scenes, and each further seed adds scenes no other seed has. Writes
`<runs_dir>/ablate-<config>-<time>/` (or `--out`) with a run directory `<label>-seed<S>` per source
and seed, and, rewritten after every run so a long ablation shows what it has:

    results.json   "runs": one row per run (source, seed, run, success_rate, ci95, mean_oracle_score,
                   episodes, training_success_last20, simulated); "sources": per source the mean
                   success over its seeds, each seed's, and a Wilson 95% interval over the pooled
                   evaluation episodes of all its seeds
    table.md       one row per source: mean success, 95% interval, each seed's success, mean oracle
                   score, and the training episodes' success (the last 20 of each run, mean over
                   seeds, as the env reports it: the simulator's, whatever the reward scored)
    success.png    per source the moving success rate against episode, mean over seeds, min-max band

`--out` an existing ablation folder continues it: runs already in its results.json are kept, not
rerun, and the table and plot cover old and new runs together. So a stopped ablation picks up
where it was, and more sources or seeds join the same table. It must be the same config, the same
overrides and the same evaluation count. A run folder left by an interrupted run has no results
row; it is renamed `<label>-seed<S>-interrupted[-N]` (its episodes stay on disk) and that run
starts over.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from configs import get_config  # noqa: E402
from configs.experiment import ExperimentConfig  # noqa: E402
from configs.overrides import apply_overrides, config_to_dict  # noqa: E402
from experiments.rundir import RunDir, fresh_dir  # noqa: E402
from experiments.training.base_policy import pretrained_dir  # noqa: E402
from experiments.training.curves import moving_mean  # noqa: E402
from experiments.training.evaluate import evaluate_run, wilson_interval  # noqa: E402
from experiments.training.report import scored_rows  # noqa: E402
from experiments.training.train import train  # noqa: E402

__all__ = ["parse_reward_specs", "parse_seeds", "aggregate_sources", "source_table", "seed_band", "main"]

# The moving mean of the learning curves, as in a run's own report.
WINDOW = 20
_EVALUATION_KEYS = ("success_rate", "ci95", "mean_oracle_score", "episodes")


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
    labels = [label for label, _ in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"--rewards names a source twice: {labels}")
    return specs


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' -> [0, 1, 2]: distinct ints >= 0, in the order given."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    try:
        seeds = [int(s) for s in items]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated ints >= 0 such as 0,1,2, got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds takes distinct comma-separated ints >= 0 such as 0,1,2, got {text!r}")
    return seeds


def aggregate_sources(rows: list[dict]) -> dict[str, dict]:
    """Per source (in first-seen order), over its runs: the mean of the seeds' evaluation success,
    each seed's, and the Wilson 95% interval of all its evaluation episodes pooled."""
    sources: dict[str, dict] = {}
    for label in dict.fromkeys(row["source"] for row in rows):
        runs = [row for row in rows if row["source"] == label]
        rates = [row["success_rate"] for row in runs]
        episodes = sum(row["episodes"] for row in runs)
        successes = sum(round(row["success_rate"] * row["episodes"]) for row in runs)
        oracle = [row["mean_oracle_score"] for row in runs if row["mean_oracle_score"] is not None]
        last20 = [row["training_success_last20"] for row in runs if row["training_success_last20"] is not None]
        sources[label] = {
            "seeds": [row["seed"] for row in runs],
            "success_rate_per_seed": rates,
            "success_rate_mean": float(np.mean(rates)),
            "ci95": list(wilson_interval(successes, episodes)),
            "eval_episodes": episodes,
            "eval_successes": successes,
            "mean_oracle_score": float(np.mean(oracle)) if oracle else None,
            "training_success_last20_mean": float(np.mean(last20)) if last20 else None,
            "simulated": any(row["simulated"] for row in runs),
        }
    return sources


def _run_configs(base: ExperimentConfig, specs, seeds, eval_episodes: int, base_policy: str):
    """[(label, seed, config)] for every source and seed; every override is checked here, before
    the first run starts."""
    runs = []
    for label, overrides in specs:
        for seed in seeds:
            config = apply_overrides(base, [*overrides, f"run.seed={seed}", f"run.eval_episodes={eval_episodes}"])
            config = dataclasses.replace(config, pretrain=dataclasses.replace(config.pretrain, checkpoint=base_policy))
            runs.append((label, seed, config))
    return runs


def _train_and_evaluate(label: str, seed: int, config: ExperimentConfig,
                        out: Path) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Trains one run in `out` and evaluates it; returns its results row and its learning curve."""
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, runs_dir=str(out)))
    run = RunDir(out / f"{label}-seed{seed}").create()
    run.write_config(config_to_dict(config))
    print(f"=== {label}, seed {seed}: {run.root}", flush=True)
    train(config, run)
    curve = _learning_curve(run)
    # Held-out scenes of evaluation seed `seed`: the same for every source of this seed.
    evaluation = evaluate_run(run.root, config.run.eval_episodes, seed=seed)
    row = {"source": label, "seed": seed, "run": str(run.root),
           **{key: evaluation[key] for key in _EVALUATION_KEYS},
           # The curve's last point is the mean success of the last WINDOW episodes.
           "training_success_last20": float(curve[1][-1]) if len(curve[1]) else None,
           # As the client labelled its own scores: a simulated reward model never passes as a model.
           "simulated": any(str(r.get("model", "")).startswith("simulated:") for r in run.rewards())}
    return row, curve


def seed_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """(episode index, mean, min, max) over seeds of (sorted episode index, value) curves, at the
    indices every seed has (a damaged episode leaves a gap in its run's curve)."""
    curves = [(index, values) for index, values in curves if len(index)]
    if not curves:
        return (np.zeros(0, int),) + (np.zeros(0),) * 3
    common = curves[0][0]
    for index, _ in curves[1:]:
        common = np.intersect1d(common, index)
    stacked = np.stack([values[np.searchsorted(index, common)] for index, values in curves])
    return common, stacked.mean(axis=0), stacked.min(axis=0), stacked.max(axis=0)


def _plot(path: Path, title: str, curves: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> None:
    """One line per source: the mean over seeds of the moving success rate, with the min-max over
    seeds as a light band."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, runs in curves.items():
        index, mean, low, high = seed_band(runs)
        if len(index):
            (line,) = ax.plot(index, mean, label=f"{label} ({len(runs)} seeds)")
            ax.fill_between(index, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("episode")
    ax.set_ylabel(f"success rate (moving mean of {WINDOW})")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"{title}: reward sources, mean and min-max over seeds", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def source_table(sources: dict[str, dict]) -> list[str]:
    """table.md's lines: one row per source of `aggregate_sources`."""
    lines = ["| reward source | eval success (mean over seeds) | 95% CI (pooled episodes) | per seed "
             "| mean oracle score | training success (last 20) |",
             "|---|---|---|---|---|---|"]
    for label, s in sources.items():
        simulated = " (simulated)" if s["simulated"] else ""
        per_seed = ", ".join(f"s{seed}: {rate:.0%}" for seed, rate in zip(s["seeds"], s["success_rate_per_seed"],
                                                                         strict=True))
        oracle = "-" if s["mean_oracle_score"] is None else f"{s['mean_oracle_score']:.2f}"
        training = "-" if s["training_success_last20_mean"] is None else f"{s['training_success_last20_mean']:.0%}"
        lines.append(f"| {label}{simulated} | {s['success_rate_mean']:.0%} | {s['ci95'][0]:.0%}-{s['ci95'][1]:.0%} "
                     f"(n={s['eval_episodes']}) | {per_seed} | {oracle} | {training} |")
    return lines


def _learning_curve(run: RunDir) -> tuple[np.ndarray, np.ndarray]:
    """(episode index, trailing moving mean of success) over the run's scored episodes."""
    rows = scored_rows(run)
    success = np.array([bool(r["is_success"]) for r in rows], float)
    return np.array([r["episode_index"] for r in rows], int), moving_mean(success, WINDOW)


def _earlier_rows(out: Path, base: ExperimentConfig, overrides: list[str], eval_episodes: int) -> list[dict]:
    """The finished runs of the ablation in `out` (none for a new folder); refuses a folder made
    by another config, other overrides or another evaluation count, whose rows would not compare."""
    path = out / "results.json"
    if not path.exists():
        return []
    try:
        earlier = json.loads(path.read_text())
        rows = earlier["runs"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--out {out}: cannot read its results.json ({error}); give a new --out folder") from None
    mine = {"config": base.name, "overrides": overrides, "eval_episodes_per_run": eval_episodes}
    theirs = {key: earlier.get(key) for key in mine}
    if theirs != mine:
        raise ValueError(f"--out {out} holds an ablation of {theirs}, this command asks for {mine}: "
                         f"continue it with the same config, overrides and --eval-episodes, or give a new --out")
    for row in rows:
        if not Path(row["run"]).is_dir():
            raise ValueError(f"--out {out}: its results.json lists the run {row['run']}, which is gone; "
                             f"put it back or give a new --out")
    return rows


def _set_aside(run_root: Path) -> Path:
    """Renames an interrupted run's folder out of the way, keeping what it recorded."""
    for attempt in itertools.count(1):
        aside = run_root.with_name(f"{run_root.name}-interrupted" + (f"-{attempt}" if attempt > 1 else ""))
        if not aside.exists():
            run_root.rename(aside)
            return aside


def _write(out: Path, base: ExperimentConfig, overrides: list[str], seeds: list[int], eval_episodes: int,
           rows: list[dict], curves: dict, planned: int) -> list[str]:
    sources = aggregate_sources(rows)
    results = {"config": base.name, "overrides": overrides, "seeds": seeds,
               "eval_episodes_per_run": eval_episodes, "runs_planned": planned, "runs": rows,
               "sources": sources}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    lines = source_table(sources)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    _plot(out / "success.png", base.name, curves)
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl ablate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="key.path=value, applied to every run")
    parser.add_argument("--rewards", required=True, help="comma-separated reward specs")
    parser.add_argument("--seeds", default="0", help="comma-separated run seeds; every source runs on each")
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help="held-out scenes per run's evaluation (default: the config's run.eval_episodes)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_intermixed_args(argv)  # overrides may come after options
    try:
        if any(item.startswith("run.seed=") for item in args.overrides):
            raise ValueError("each run's run.seed comes from --seeds: give --seeds S instead of run.seed=S")
        base = apply_overrides(get_config(args.config), args.overrides)
        specs = parse_reward_specs(args.rewards)
        seeds = parse_seeds(args.seeds)
        eval_episodes = base.run.eval_episodes if args.eval_episodes is None else args.eval_episodes
        if eval_episodes < 1:
            raise ValueError(f"every run is evaluated: --eval-episodes (or run.eval_episodes) must be >= 1, "
                             f"got {eval_episodes}")
        # One base policy for every run: pretrained where the base config keeps it.
        runs = _run_configs(base, specs, seeds, eval_episodes, str(pretrained_dir(base)))
        rows = _earlier_rows(args.out, base, args.overrides, eval_episodes) if args.out else []
    except ValueError as error:
        print(f"rrl ablate: {error}", file=sys.stderr)
        return 2
    out = args.out or fresh_dir(Path(base.run.runs_dir), f"ablate-{base.name}")
    out.mkdir(parents=True, exist_ok=True)
    done = {(row["source"], row["seed"]) for row in rows}
    curves: dict[str, list] = {}
    for row in rows:
        curves.setdefault(row["source"], []).append(_learning_curve(RunDir(row["run"])))
    planned = len(done | {(label, seed) for label, seed, _ in runs})
    seeds = list(dict.fromkeys([*(row["seed"] for row in rows), *seeds]))
    lines = _write(out, base, args.overrides, seeds, eval_episodes, rows, curves, planned) if rows else []
    for label, seed, config in runs:
        if (label, seed) in done:
            print(f"=== {label}, seed {seed}: finished earlier, kept", flush=True)
            continue
        run_root = out / f"{label}-seed{seed}"
        if run_root.exists():
            print(f"=== {label}, seed {seed}: {run_root} was interrupted; kept as {_set_aside(run_root)}, "
                  f"starting it over", flush=True)
        row, curve = _train_and_evaluate(label, seed, config, out)
        rows.append(row)
        curves.setdefault(label, []).append(curve)
        lines = _write(out, base, args.overrides, seeds, eval_episodes, rows, curves, planned)
    print("\n".join(lines))
    print(f"plot, table and results: {out}")
    return 0
