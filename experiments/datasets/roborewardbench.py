"""How RoboRewardBench reads a model's answer: the rules of its metric in HELM
(`RoboRewardBenchProgressPredictionMetric.extract_answer` in
stanford-crfm/helm, src/helm/benchmark/metrics/robo_reward_bench_metrics.py).

    read_answer("The drawer is open. ANSWER: 4")    # -> 4.0
    read_answer("ANSWER: 7")                        # -> 7.0: scored by its distance to the label
    read_answer("**ANSWER:** 4")                    # -> None: error 4, as the benchmark counts it

The number after the first `answer:` (any case, "answer" a whole word, spaces around the colon;
a minus sign and decimals belong to it); else a number that opens the reply ("5. The robot...").
Nothing is checked against 1-5: the benchmark's absolute error is |number - label|, and a reply
with no number read counts as error 4 (squared error 16). The benchmark scores the first reply
only; asking again after an unreadable one is not part of it.
"""

from __future__ import annotations

import re

__all__ = ["read_answer", "UNPARSEABLE_ERROR"]

# Absolute error of a reply with no number read (squared: 16).
UNPARSEABLE_ERROR = 4.0

_ANSWER_RE = re.compile(r"\banswer\b\s*:\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_LEADING_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\b")


def read_answer(text: str | None) -> float | None:
    """The number RoboRewardBench reads from a reply, or None when it reads none."""
    if not text:
        return None
    text = str(text).strip()
    match = _ANSWER_RE.search(text) or _LEADING_RE.search(text)
    return float(match.group(1)) if match else None
