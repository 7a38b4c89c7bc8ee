"""`rrl eval-reward`: how well does a reward client score *your* task? RoboRewardBench's metrics.

    rrl eval-reward data/mytask --client roboreward base_url=http://127.0.0.1:8000/v1 --out eval/rr8b
    rrl eval-reward runs/widowx-pick-... --client gemini_er --labels human,oracle --out eval/gemini
    rrl eval-reward data/mytask --answer-parsing rl --out eval/rr8b-rl
    rrl eval-reward --compare eval/rr8b/results.json eval/gemini/results.json --out eval/compare

Answers are read as RoboRewardBench's metric in HELM reads them (`--answer-parsing helm`, the
default; roborewardbench.py): the model's first reply is scored, whatever it says, and only
transport failures are asked again. `--answer-parsing rl` reads them as the RL loop does instead
(the last ANSWER:, exactly one whole 1-5, an unreadable answer asked again up to max_retries).

The input is a dataset in the RoboReward layout (`<split>/metadata.jsonl` beside the mp4 files;
`--split` picks one) or a run directory with labelled episodes (human labels, else the sim
oracle). Client options are `key=value` words as in `rrl train`'s reward overrides. Bad rows are
reported with their row numbers and skipped. Scores go through the client's cache (in
`<out>/cache` unless cache_dir= is given) and every outcome is appended to
`<out>/predictions.partial.jsonl` at once, so running the same command again after an
interruption asks only for what is missing. Writes results.json, predictions.jsonl, summary.md,
confusion.png and per_subset_mae.png to --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import tqdm

import reward_clients
from experiments.datasets import (
    DatasetRow,
    Prediction,
    RowProblem,
    compare_markdown,
    compute_metrics,
    find_split,
    is_run_dir,
    parse_label_sources,
    read_split,
    run_rows,
    score_rows,
    summary_markdown,
)
from experiments.datasets.options import client_options, split_words
from experiments.datasets.plots import plot_compare, plot_confusion, plot_per_subset
from reward_clients.model_client import FirstReply

__all__ = ["main", "evaluate", "run_key", "ANSWER_PARSINGS"]

# "helm": RoboRewardBench's reading, first reply only; "rl": the RL loop's strict rule, re-asked.
ANSWER_PARSINGS = ("helm", "rl")
# Settings that change how a request travels, not what the model answers: left out of run_key.
_TRANSPORT_SETTINGS = frozenset({
    "base_url", "cache_dir", "timeout_s", "connect_timeout_s", "total_timeout_s", "max_reply_bytes",
    "unreachable_grace_s", "max_retries", "backoff_base_s", "backoff_max_s", "max_retry_wait_s", "api_key_env",
    "video_dir", "player", "answer_timeout_s", "poll_s",
})


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rrl eval-reward", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("words", nargs="*", metavar="DATASET [key=value ...]",
                        help="dataset or run directory, then the client's options")
    parser.add_argument("--client", default="roboreward", choices=reward_clients.NAMES)
    parser.add_argument("--split", default=None, help="dataset split (default: the only one, or 'test')")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default eval/<dataset>-<client>)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight at most")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N valid rows only")
    parser.add_argument("--labels", default="human,oracle", help="run directories: label sources in order")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier predictions in --out")
    parser.add_argument("--answer-parsing", default="helm", choices=ANSWER_PARSINGS,
                        help="helm: RoboRewardBench's reading of the first reply (default); rl: the RL loop's "
                             "rule, an unreadable answer asked again")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="RESULTS", help="results.json files (or folders)")
    # Intermixed: options may come before, between or after the dataset and its key=value words.
    args = parser.parse_intermixed_args(argv)
    args.paths, args.options = split_words(args.words)
    if args.compare:
        return args
    if len(args.paths) != 1:
        parser.error(f"give one dataset or run directory, got {args.paths or 'none'}")
    if args.concurrency < 1 or (args.limit is not None and args.limit < 1):
        parser.error(f"--concurrency and --limit must be >= 1, got {args.concurrency} and {args.limit}")
    return args


def run_key(name: str, client: reward_clients.RewardClient, answer_parsing: str = "helm") -> str:
    """A fingerprint of what decides the predictions (model, prompt inputs, video, answer reading)."""
    config = getattr(client, "config", None)
    settings = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {}
    semantic = {k: v for k, v in settings.items() if k not in _TRANSPORT_SETTINGS}
    blob = json.dumps({"client": name, "model": client.model, "settings": semantic, "answers": answer_parsing},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _previous(out: Path, key: str) -> dict[tuple, Prediction]:
    """Final predictions (scored or unparseable) of an earlier run with the same settings."""
    found: dict[tuple, Prediction] = {}
    for path in (out / "predictions.jsonl", out / "predictions.partial.jsonl"):
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                prediction = Prediction.from_dict(json.loads(line))
            except (ValueError, TypeError):
                continue  # a torn last line from an interruption
            if prediction.run_key == key and prediction.status != "failed":
                found[(prediction.file_name, prediction.task, prediction.label)] = prediction
    return found


def evaluate(
    client: reward_clients.RewardClient, rows: list[DatasetRow], out: Path, *, key: str,
    concurrency: int = 8, resume: bool = True, answer_parsing: str = "helm",
) -> tuple[list[Prediction], list[RowProblem], int]:
    """Scores the rows not already predicted in `out`; returns (predictions in row order,
    rows whose video could not be read, how many predictions were reused)."""
    if answer_parsing not in ANSWER_PARSINGS:
        raise ValueError(f"eval-reward: answer_parsing {answer_parsing!r} is not one of {list(ANSWER_PARSINGS)}")
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous(out, key) if resume else {}
    done: dict[int, Prediction] = {}
    for index, row in enumerate(rows):
        if (hit := previous.get((row.file_name, row.task, row.reward))) is not None:
            done[index] = dataclasses.replace(hit, row=row.row, subset=row.subset)
    reused = len(done)
    todo = [i for i in range(len(rows)) if i not in done]
    unreadable: list[RowProblem] = []
    partial_path = out / "predictions.partial.jsonl"
    with open(partial_path, "a", encoding="utf-8") as partial, tqdm.tqdm(
        total=len(todo), unit="video", disable=None, file=sys.stderr, desc="eval-reward"
    ) as bar:

        def on_done(k: int, outcome: reward_clients.RewardResult | FirstReply | None, problem: str | None) -> None:
            row = rows[todo[k]]
            if outcome is None:
                unreadable.append(RowProblem(row.row, problem or "not scored", row.file_name))
            else:
                if isinstance(outcome, FirstReply):
                    prediction = Prediction.from_reply(row, outcome, key)
                else:
                    prediction = Prediction.from_result(row, outcome, key)
                done[todo[k]] = prediction
                partial.write(json.dumps(prediction.to_dict()) + "\n")
                partial.flush()
            bar.update(1)

        score_rows(client, [rows[i] for i in todo], concurrency, on_done, first_reply=answer_parsing == "helm")
    predictions = [done[i] for i in sorted(done)]
    with open(out / "predictions.jsonl.tmp", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(p.to_dict()) + "\n" for p in predictions)
    (out / "predictions.jsonl.tmp").replace(out / "predictions.jsonl")
    partial_path.unlink(missing_ok=True)
    return predictions, unreadable, reused


def _load_rows(args: argparse.Namespace) -> tuple[list[DatasetRow], list[RowProblem], str]:
    source = Path(args.paths[0])
    if is_run_dir(source):
        rows, problems = run_rows(source, parse_label_sources(args.labels))
        return rows, problems, str(source)
    split_dir = find_split(source, args.split)
    rows, problems = read_split(split_dir)
    if not rows and not problems:
        raise ValueError(f"dataset {split_dir}: metadata.jsonl has no rows (an empty split)")
    return rows, problems, str(split_dir)


def _default_out(dataset: str, client: str, model: str) -> Path:
    name = "-".join(part for part in (Path(dataset).name, client, model.split("/")[-1]) if part)
    return Path("eval") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _report(problems: list[RowProblem], total: int) -> None:
    if not problems:
        return
    print(f"eval-reward: skipping {len(problems)} of {total} rows:", file=sys.stderr)
    for problem in problems[:20]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more (all are in results.json)", file=sys.stderr)


def run_eval(args: argparse.Namespace) -> int:
    rows, problems, dataset = _load_rows(args)
    total = len(rows) + len(problems)
    rows = rows[: args.limit] if args.limit else rows
    settings = client_options(args.client, args.options)
    config_cls = reward_clients.config_class(args.client)
    model_hint = str(getattr(config_cls(**settings), "model", ""))  # checks the settings early too
    out = args.out or _default_out(dataset, args.client, model_hint)
    if "cache_dir" in {f.name for f in dataclasses.fields(config_cls)} and "cache_dir" not in settings:
        settings["cache_dir"] = str(out / "cache")
    start = time.monotonic()
    with reward_clients.make(args.client, **settings) as client:
        key = run_key(args.client, client, args.answer_parsing)
        print(f"eval-reward: {len(rows)} videos from {dataset} with {args.client} ({client.model}), answers read "
              f"the {args.answer_parsing} way -> {out}")
        predictions, unreadable, reused = evaluate(client, rows, out, key=key, concurrency=args.concurrency,
                                                   resume=not args.fresh, answer_parsing=args.answer_parsing)
        model = client.model
    wall = time.monotonic() - start
    skipped = sorted(problems + unreadable, key=lambda p: p.row)
    _report(skipped, total)
    results = compute_metrics(predictions)
    failed = [p for p in predictions if p.status == "failed"]
    results.update({
        "name": f"{args.client}:{model}", "client": args.client, "model": model, "dataset": dataset,
        "answer_parsing": args.answer_parsing,
        "settings": {k: v for k, v in settings.items() if k != "cache_dir"}, "rows": total,
        "n_skipped": len(skipped), "skipped": [p.to_json() for p in skipped], "n_resumed": reused,
        "failed": [{"row": p.row, "file_name": p.file_name, "error": p.message} for p in failed],
        "complete": not failed, "wall_s": wall,
        "videos_per_s": (len(predictions) - reused) / wall if wall > 0 else None, "run_key": key,
    })
    write_outputs(results, out)
    if results["n"]:
        print(f"macro MAE {results['macro_mae']:.3f} over {len(results['per_subset'])} subset(s); micro MAE "
              f"{results['micro_mae']:.3f}, accuracy {results['accuracy']:.1%}, MSE {results['mse']:.3f}, "
              f"parse failures {results['parse_failure_rate']:.1%}; n={results['n']} ({reused} reused, "
              f"{results['n_cached']} from the cache)")
    if failed:
        print(f"eval-reward: {len(failed)} videos got no answer (first: {failed[0].message}); run the same "
              "command again to retry them", file=sys.stderr)
    plots = ", confusion.png, per_subset_mae.png" if results["n"] else ""
    print(f"results in {out}/: results.json, predictions.jsonl, summary.md{plots}")
    return 1 if failed else 0


def write_outputs(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    title = f"{results['name']} on {results['dataset']}"
    (out / "summary.md").write_text(summary_markdown(results, title))
    if results["n"]:
        plot_confusion(results, out / "confusion.png", title)
        plot_per_subset(results, out / "per_subset_mae.png", title)


def run_compare(paths: list[Path], out: Path | None) -> int:
    files = [path / "results.json" if path.is_dir() else path for path in paths]
    loaded = [json.loads(path.read_text()) for path in files]
    names = [results.get("name") or path.parent.name for results, path in zip(loaded, files, strict=True)]
    # The same client and model twice (say, two prompts' settings): tell them apart by folder.
    named = [(f"{name} ({path.parent.name})" if names.count(name) > 1 else name, results)
             for name, results, path in zip(names, loaded, files, strict=True)]
    table = compare_markdown(named)
    print(table, end="")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(table)
        plot_compare(named, out / "compare.png")
        print(f"written {out / 'compare.md'} and {out / 'compare.png'}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if args.compare:
            return run_compare(args.compare, args.out)
        return run_eval(args)
    except (FileNotFoundError, ValueError, reward_clients.RewardClientError) as error:
        # A bad input or configuration; what was scored before it is kept for the next run.
        print(f"rrl eval-reward: {error}", file=sys.stderr)
        return 2
