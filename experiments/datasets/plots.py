"""PNG plots of reward-model evaluations (matplotlib, Agg backend: files only).

    confusion.png        label x prediction counts, off-scale and unparseable answers in columns of their own
    per_subset_mae.png   each subset's MAE with the macro MAE (the headline) as a line
    compare.png          per-subset and macro MAE of several evaluations side by side
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_confusion", "plot_per_subset", "plot_compare"]


def plot_confusion(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    off_scale = results.get("confusion_off_scale") or [0] * 5
    counts = np.column_stack([np.asarray(results["confusion"]), np.asarray(off_scale),
                              np.asarray(results["confusion_unparseable"])])
    fig, ax = plt.subplots(figsize=(6.2, 4.6))
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if shown[i, j] > 0.5 else "black")
    ax.set_xticks(range(7), ["1", "2", "3", "4", "5", "off\nscale", "unparse-\nable"])
    ax.set_yticks(range(5), ["1", "2", "3", "4", "5"])
    ax.set_xlabel("prediction")
    ax.set_ylabel("label")
    ax.set_title(title or "confusion (colour: share of the label's row)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_per_subset(results: Mapping[str, Any], path: Path, title: str = "") -> Path:
    subsets = list(results["per_subset"])
    maes = [results["per_subset"][s]["mae"] for s in subsets]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(subsets) + 1.6))
    ax.barh(range(len(subsets)), maes, color="tab:blue")
    ax.set_yticks(range(len(subsets)), [f"{s} (n={results['per_subset'][s]['n']})" for s in subsets])
    ax.invert_yaxis()
    if results.get("macro_mae") is not None:
        ax.axvline(results["macro_mae"], color="tab:red", ls="--", label=f"macro MAE {results['macro_mae']:.3f}")
        ax.legend(loc="lower right")
    ax.set_xlim(0, 4)
    ax.set_xlabel("mean absolute error (1-5 score; unparseable = 4)")
    ax.set_title(title or "MAE per subset", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_compare(named: Sequence[tuple[str, Mapping[str, Any]]], path: Path) -> Path:
    subsets = sorted({s for _, r in named for s in r["per_subset"]})
    groups = ["macro", *subsets]
    width = 0.8 / max(1, len(named))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) * max(1, len(named)) * 0.6), 4.2))
    for k, (name, results) in enumerate(named):
        values = [results["macro_mae"] or 0.0] + [results["per_subset"].get(s, {}).get("mae", np.nan) for s in subsets]
        ax.bar(np.arange(len(groups)) + k * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax.set_ylabel("MAE (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
