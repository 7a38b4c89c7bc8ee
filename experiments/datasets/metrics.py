"""RoboRewardBench's metrics over per-video predictions, and their Markdown tables.

    metrics = compute_metrics(predictions)
    metrics["macro_mae"]      # mean over subsets of each subset's MAE: the headline
    print(summary_markdown(metrics, title="roboreward on my-task"))

A prediction is "scored" (a number was read), "unparseable" (the model answered, but no number
could be read: absolute error 4, squared error 16, never an exact match, as RoboRewardBench counts
it), or "failed" (no answer at all: the server was down). Failed rows are left out of the metrics
and reported apart, since a rerun may still score them. Read the benchmark's way
(`from_reply`, roborewardbench.py), a number outside 1-5 or with decimals is scored by its
distance to the label and counted apart from the 5x5 confusion ("off scale"); read the RL loop's
way (`from_result`), every score is a whole 1-5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from experiments.datasets.layout import DatasetRow
from experiments.datasets.roborewardbench import UNPARSEABLE_ERROR, read_answer
from reward_clients import RewardResult
from reward_clients.base import cut_text
from reward_clients.model_client import FirstReply

__all__ = ["Prediction", "STATUSES", "UNPARSEABLE_ERROR", "compute_metrics", "summary_markdown", "compare_markdown"]

STATUSES = ("scored", "unparseable", "failed")
SCORES = (1, 2, 3, 4, 5)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One video's label and what the reward client made of it (a line of predictions.jsonl)."""

    row: int
    file_name: str
    subset: str
    task: str
    label: int
    status: str
    # The number read: a whole 1-5 from a reward client, any number read the benchmark's way
    # (an int when it is whole, as JSON shows it).
    score: int | float | None = None
    raw_text: str = ""
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 0
    source: str = ""
    model: str = ""
    message: str | None = None
    # Fingerprint of the client settings that produced it; a resumed evaluation reuses only its own.
    run_key: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"prediction: status {self.status!r} is not one of {list(STATUSES)}")
        if (self.status == "scored") != (self.score is not None):
            raise ValueError(f"prediction row {self.row}: a score goes with status 'scored' only, got {self.score!r}")

    @property
    def abs_error(self) -> float | None:
        if self.status == "failed":
            return None
        return UNPARSEABLE_ERROR if self.score is None else float(abs(self.score - self.label))

    @classmethod
    def from_result(cls, row: DatasetRow, result: RewardResult, run_key: str = "") -> Prediction:
        """From a dataset row and the client's RewardResult for it."""
        # The model clients end the error of an answer without a usable score with its raw text
        # (reward_clients/model_client.py); anything else (no answer, an operator's skip) is a failure.
        answered = "; raw text: " in (result.error or "")
        status = "scored" if result.score is not None else ("unparseable" if answered else "failed")
        return cls(
            row=row.row, file_name=row.file_name, subset=row.subset, task=row.task, label=row.reward,
            status=status, score=result.score, raw_text=result.raw_text, latency_s=round(result.latency_s, 4),
            cached=result.cached, attempts=result.attempts, source=result.source, model=result.model,
            message=result.error, run_key=run_key,
        )

    @classmethod
    def from_reply(cls, row: DatasetRow, reply: FirstReply, run_key: str = "") -> Prediction:
        """From a dataset row and a model's first reply, read as RoboRewardBench reads it."""
        number = None if reply.error is not None else read_answer(reply.text)
        if number is not None and number.is_integer():
            number = int(number)
        status = "failed" if reply.error is not None else ("unparseable" if number is None else "scored")
        return cls(
            row=row.row, file_name=row.file_name, subset=row.subset, task=row.task, label=row.reward,
            status=status, score=number, raw_text=cut_text(reply.text), latency_s=round(reply.latency_s, 4),
            cached=reply.cached, attempts=reply.attempts, message=reply.error, run_key=run_key,
        )

    @property
    def on_scale(self) -> bool:
        """A whole score 1-5 (a cell of the 5x5 confusion)."""
        return self.score in SCORES

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "abs_error": self.abs_error}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _percentiles(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p90": None, "p95": None, "p99": None, "max": None}
    array = np.asarray(values, float)
    out: dict[str, Any] = {"n": len(array), "mean": float(array.mean())}
    for q in (50, 90, 95, 99):
        out[f"p{q}"] = float(np.percentile(array, q))
    out["max"] = float(array.max())
    return out


def compute_metrics(predictions: Sequence[Prediction]) -> dict[str, Any]:
    """The benchmark's metrics over the scored and unparseable predictions."""
    final = [p for p in predictions if p.status != "failed"]
    errors = np.array([p.abs_error for p in final], float)
    confusion = np.zeros((5, 5), int)
    unparseable = np.zeros(5, int)
    off_scale = np.zeros(5, int)
    for p in final:
        if p.score is None:
            unparseable[p.label - 1] += 1
        elif p.on_scale:
            confusion[p.label - 1, int(p.score) - 1] += 1
        else:
            off_scale[p.label - 1] += 1
    per_subset: dict[str, dict[str, Any]] = {}
    for subset in sorted({p.subset for p in final}):
        mine = [p for p in final if p.subset == subset]
        sub_errors = np.array([p.abs_error for p in mine], float)
        per_subset[subset] = {
            "mae": float(sub_errors.mean()),
            "n": len(mine),
            "accuracy": float(np.mean([p.score == p.label for p in mine])),
            "mse": float(np.mean(sub_errors**2)),
        }
    n = len(final)
    latencies = [p.latency_s for p in predictions if not p.cached and p.attempts > 0]
    return {
        "macro_mae": float(np.mean([s["mae"] for s in per_subset.values()])) if n else None,
        "micro_mae": float(errors.mean()) if n else None,
        "accuracy": float(np.mean([p.score == p.label for p in final])) if n else None,
        "mse": float(np.mean(errors**2)) if n else None,
        "parse_failure_rate": float(unparseable.sum() / n) if n else None,
        "n": n,
        "n_unparseable": int(unparseable.sum()),
        "n_failed": len(predictions) - n,
        "n_cached": sum(p.cached for p in predictions),
        "per_subset": per_subset,
        "confusion": confusion.tolist(),
        "confusion_unparseable": unparseable.tolist(),
        "confusion_off_scale": off_scale.tolist(),
        "label_counts": {str(s): int(confusion[s - 1].sum() + unparseable[s - 1] + off_scale[s - 1]) for s in SCORES},
        "latency_s": _percentiles(latencies),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_markdown(results: Mapping[str, Any], title: str) -> str:
    """The results of one evaluation as Markdown: headline table, per subset, confusion."""
    latency = results.get("latency_s") or {}
    lines = [
        f"# {title}", "",
        "| metric | value |", "|---|---|",
        f"| macro MAE (mean over {len(results['per_subset'])} subsets) | {_fmt(results['macro_mae'])} |",
        f"| micro MAE | {_fmt(results['micro_mae'])} |",
        f"| exact accuracy | {_fmt(results['accuracy'])} |",
        f"| MSE | {_fmt(results['mse'])} |",
        f"| parse-failure rate | {_fmt(results['parse_failure_rate'])} |",
        f"| videos scored (n) | {results['n']} |",
        f"| failed (no answer, not in the metrics) | {results['n_failed']} |",
        f"| rows skipped (bad input) | {results.get('n_skipped', 0)} |",
        f"| latency p50 / p90 / p99 (s) | {_fmt(latency.get('p50'), 2)} / {_fmt(latency.get('p90'), 2)} / "
        f"{_fmt(latency.get('p99'), 2)} |",
        "", "## Per subset", "", "| subset | n | MAE | accuracy |", "|---|---|---|---|",
    ]
    for subset, stats in results["per_subset"].items():
        lines.append(f"| {subset} | {stats['n']} | {_fmt(stats['mae'])} | {_fmt(stats['accuracy'])} |")
    lines += ["", "## Confusion (rows = label, columns = prediction)", "",
              "| label | 1 | 2 | 3 | 4 | 5 | off scale | unparseable |", "|---|---|---|---|---|---|---|---|"]
    # Results written before off-scale answers were counted have none.
    off_scale = results.get("confusion_off_scale") or [0] * len(SCORES)
    for score, (counts, off, bad) in enumerate(
        zip(results["confusion"], off_scale, results["confusion_unparseable"], strict=True), 1
    ):
        lines.append(f"| {score} | " + " | ".join(str(c) for c in counts) + f" | {off} | {bad} |")
    return "\n".join(lines) + "\n"


def compare_markdown(named: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Several evaluations side by side: one column per result, the best MAE of a row in bold."""
    subsets = sorted({s for _, r in named for s in r["per_subset"]})
    header = "| metric | " + " | ".join(name for name, _ in named) + " |"
    lines = [header, "|---|" + "---|" * len(named)]
    rows: list[tuple[str, list[Any], bool]] = [
        ("macro MAE", [r["macro_mae"] for _, r in named], True),
        ("micro MAE", [r["micro_mae"] for _, r in named], True),
        ("accuracy", [r["accuracy"] for _, r in named], False),
        ("MSE", [r["mse"] for _, r in named], True),
        ("parse-failure rate", [r["parse_failure_rate"] for _, r in named], True),
        ("n", [r["n"] for _, r in named], False),
        ("latency p50 (s)", [(r.get("latency_s") or {}).get("p50") for _, r in named], False),
    ]
    rows += [
        (f"MAE {subset}", [r["per_subset"].get(subset, {}).get("mae") for _, r in named], True) for subset in subsets
    ]
    for label, values, lower_is_better in rows:
        known = [v for v in values if isinstance(v, float)]
        best = min(known) if known and lower_is_better and len(named) > 1 else None
        cells = [f"**{_fmt(v)}**" if best is not None and v == best else _fmt(v) for v in values]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
