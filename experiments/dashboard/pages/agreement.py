"""The agreement view (/agreement): human labels against a reward model or the sim oracle.

    GET  /api/agreement    ?source=: confusion matrix, MAE, exact and within-one rates, bias, worst,
                           and the run's problems (episodes with a bad meta.json, ...)
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from experiments.dashboard.pages.shared import render_page, run_view
from experiments.dashboard.runview import RunView

__all__ = ["blueprint", "agreement", "model_sources"]

# Reward sources that are people, not models (the agreement view compares them with the rest).
HUMAN_SOURCES = frozenset({"human"})

blueprint = Blueprint("agreement", __name__)


@blueprint.get("/agreement")
def page() -> str:
    return render_page("agreement.html")


@blueprint.get("/api/agreement")
def api_agreement() -> Response:
    return jsonify(agreement(run_view(), request.args.get("source", "")))


def model_sources(view: RunView) -> list[str]:
    """Sources the agreement view can compare with people: model sources, then the sim oracle."""
    seen = {src for per in view.scores_by_episode().values() for src, v in per.items()
            if v.get("score") is not None and src not in HUMAN_SOURCES}
    return sorted(seen) + ["oracle_score"]


def agreement(view: RunView, source: str = "") -> dict[str, Any]:
    """Human labels (web labels, else the `human` source) against `source`'s scores."""
    view.check()
    sources = model_sources(view)
    source = source or sources[0]
    if source not in sources:
        raise ValueError(f"agreement: unknown source {source!r}; this run has {sources}")
    scores, labels = view.scores_by_episode(), view.labels()
    matrix = [[0] * 5 for _ in range(5)]
    pairs = []
    for eid in view.episode_ids():
        human = labels.get(eid, {}).get("score")
        if human is None:
            human = scores.get(eid, {}).get("human", {}).get("score")
        if source == "oracle_score":
            meta = view.meta(eid)  # None for an episode with a bad meta.json: no oracle to compare
            model = meta.oracle_score if meta is not None else None
        else:
            model = scores.get(eid, {}).get(source, {}).get("score")
        if human in range(1, 6) and model in range(1, 6):
            matrix[human - 1][model - 1] += 1
            pairs.append({"episode_id": eid, "human": human, "model": model})
    errors = [abs(p["human"] - p["model"]) for p in pairs]
    n = len(pairs)
    return {
        "source": source, "sources": sources, "n": n, "matrix": matrix,
        "mae": sum(errors) / n if n else None,
        "exact": sum(e == 0 for e in errors) / n if n else None,
        "within_one": sum(e <= 1 for e in errors) / n if n else None,
        "bias": sum(p["model"] - p["human"] for p in pairs) / n if n else None,
        "worst": sorted(pairs, key=lambda p: -abs(p["human"] - p["model"]))[:10],
        "problems": view.problems(),
    }
