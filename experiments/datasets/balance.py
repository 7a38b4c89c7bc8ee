"""Score balance of a dataset: the report (rows per score and per source) and a target balance.

    target = parse_balance("uniform")                 # or "1=2,2=1,3=1,4=1,5=2" (weights)
    kept, info = select_balanced(rows, target, rng)   # the largest subset with those shares
    print(balance_table(kept))

A target is met by leaving rows out, never by repeating them: the score with the fewest rows for
its share decides the size (`info["limited_by"]`); more episodes, more noise or more clips raise it.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from experiments.datasets.layout import DatasetRow

__all__ = ["parse_balance", "balance_counts", "balance_table", "select_balanced"]

SCORES = (1, 2, 3, 4, 5)


def parse_balance(spec: str) -> dict[int, float]:
    """Target shares per score from "uniform" or "score=weight,..." (weights are normalised;
    scores not named get share 0). Raises ValueError naming a bad part."""
    spec = spec.strip()
    if spec == "uniform":
        return {s: 1 / len(SCORES) for s in SCORES}
    weights: dict[int, float] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        try:
            score, weight = int(key), float(value)
        except ValueError:
            score, weight = 0, -1.0
        if not sep or score not in SCORES or not (weight >= 0 and math.isfinite(weight)) or score in weights:
            raise ValueError(
                f"balance {spec!r}: part {part!r} must be score=weight with a score 1-5 (once) and a weight >= 0; "
                "or use 'uniform'"
            )
        weights[score] = weight
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"balance {spec!r}: the weights add up to 0")
    return {s: weights.get(s, 0.0) / total for s in SCORES}


def balance_counts(rows: Sequence[DatasetRow]) -> dict[str, dict[int, int]]:
    """source -> score -> rows, plus "all"."""
    counts: dict[str, dict[int, int]] = collections.defaultdict(lambda: dict.fromkeys(SCORES, 0))
    for row in rows:
        counts[row.source or "?"][row.reward] += 1
        counts["all"][row.reward] += 1
    return {source: dict(by_score) for source, by_score in counts.items()}


def balance_table(rows: Sequence[DatasetRow]) -> str:
    """A Markdown table: one line per score, a column per source, totals and shares."""
    counts = balance_counts(rows)
    sources = sorted(s for s in counts if s != "all")
    total = max(1, len(rows))
    lines = ["| score | " + " | ".join(sources) + " | all | share |", "|---|" + "---|" * (len(sources) + 2)]
    for score in SCORES:
        cells = [str(counts[s][score]) for s in sources]
        all_ = counts.get("all", {}).get(score, 0)
        lines.append(f"| {score} | " + " | ".join(cells) + f" | {all_} | {all_ / total:.1%} |")
    lines.append("| total | " + " | ".join(str(sum(counts[s].values())) for s in sources) + f" | {len(rows)} | |")
    return "\n".join(lines)


def select_balanced(
    rows: Sequence[DatasetRow], target: Mapping[int, float], rng: np.random.Generator
) -> tuple[list[DatasetRow], dict[str, Any]]:
    """The largest subset of `rows` whose score shares match `target` (rows drawn at random within
    a score, kept in their original order), and what limited it."""
    by_score: dict[int, list[int]] = {s: [] for s in SCORES}
    for index, row in enumerate(rows):
        by_score[row.reward].append(index)
    wanted = [s for s in SCORES if target.get(s, 0) > 0]
    missing = [s for s in wanted if not by_score[s]]
    if missing:
        raise ValueError(
            f"balance: no rows with score(s) {missing} to balance with; add episodes, noise levels, "
            "--clips (scores 1-4) or --counterfactual, or leave those scores out of the target"
        )
    limited_by = min(wanted, key=lambda s: len(by_score[s]) / target[s])
    size = len(by_score[limited_by]) / target[limited_by]
    keep: set[int] = set()
    kept_counts = {}
    for score in SCORES:
        count = min(len(by_score[score]), int(math.floor(target.get(score, 0) * size + 1e-9)))
        kept_counts[score] = count
        if count:
            keep.update(int(i) for i in rng.choice(by_score[score], size=count, replace=False))
    info = {
        "target": {str(s): round(target.get(s, 0), 4) for s in SCORES},
        "available": {str(s): len(by_score[s]) for s in SCORES},
        "kept": {str(s): kept_counts[s] for s in SCORES},
        "limited_by": limited_by,
    }
    return [rows[i] for i in sorted(keep)], info
