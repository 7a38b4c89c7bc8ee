"""Reward-model datasets: the RoboReward layout, benchmark metrics, and negative augmentation.

Used by `rrl eval-reward` (experiments/datasets/eval_reward.py) and `rrl make-dataset`
(experiments/datasets/make_dataset.py):

    layout.py          DatasetRow, read_split / find_split, SplitWriter, load_episode
    runs.py            labelled episodes of a run directory as rows
    metrics.py         Prediction, RoboRewardBench metrics, Markdown tables
    roborewardbench.py how RoboRewardBench's metric (HELM) reads an answer
    scoring.py         scoring rows with a reward client, streamed and bounded
    plots.py           confusion and per-subset PNGs
    clipping.py        temporal clips of successful episodes (partial-progress negatives)
    counterfactual.py  counterfactual instructions from a language model, checked by a second call
    balance.py         score balance report and target balance
"""

from experiments.datasets.balance import (
    balance_counts,
    balance_table,
    parse_balance,
    select_balanced,
)
from experiments.datasets.clipping import choose_clips, clip_episode, frame_scores, frame_steps
from experiments.datasets.layout import (
    METADATA,
    DatasetRow,
    RowProblem,
    SplitWriter,
    find_split,
    load_episode,
    read_split,
)
from experiments.datasets.metrics import (
    Prediction,
    compare_markdown,
    compute_metrics,
    summary_markdown,
)
from experiments.datasets.runs import LABEL_SOURCES, is_run_dir, parse_label_sources, run_rows
from experiments.datasets.scoring import score_rows

__all__ = [
    "METADATA",
    "DatasetRow",
    "RowProblem",
    "SplitWriter",
    "find_split",
    "read_split",
    "load_episode",
    "Prediction",
    "compute_metrics",
    "summary_markdown",
    "compare_markdown",
    "LABEL_SOURCES",
    "is_run_dir",
    "parse_label_sources",
    "run_rows",
    "score_rows",
    "frame_steps",
    "frame_scores",
    "choose_clips",
    "clip_episode",
    "parse_balance",
    "balance_counts",
    "balance_table",
    "select_balanced",
]
