"""The episode browser (/episodes): video, every source's score and raw answer, oracle, safety.

    GET  /api/episodes         ?source=&min_score=&max_score=&min_disagreement=&labelled=yes|no
    GET  /api/episodes/<id>    one episode with every source's score and raw answer

An episode whose meta.json cannot be used is still listed, with `problem` saying why and the
fields read from meta.json null; its scores and label come from the run's other files.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from experiments.dashboard.episode_meta import EpisodeMeta
from experiments.dashboard.pages.shared import int_arg, render_page, run_view, valid_episode_id
from experiments.dashboard.runview import RunView

__all__ = ["blueprint", "episode_summary", "filter_episodes", "SAFETY_KINDS"]

# Per-step info flags that the real-robot env sets when the safety layer stepped in.
SAFETY_KINDS = ("action_clipped", "workspace_clipped", "orientation_clipped")

blueprint = Blueprint("episodes", __name__)


@blueprint.get("/episodes")
def page() -> str:
    return render_page("episodes.html")


@blueprint.get("/api/episodes")
def api_episodes() -> Response:
    args = request.args
    labelled = {"yes": True, "no": False, "": None}.get(args.get("labelled", ""), "bad")
    if labelled == "bad":
        raise ValueError(f"episodes: labelled must be yes or no, got {args.get('labelled')!r}")
    view = run_view()
    items = filter_episodes(
        view, source=args.get("source", ""), min_score=int_arg("min_score", 1, 5),
        max_score=int_arg("max_score", 1, 5), min_disagreement=int_arg("min_disagreement", 0, 4),
        labelled=labelled,
    )
    sources = sorted({s for item in items for s in item["sources"]})
    return jsonify({"episodes": items, "sources": sources, "problems": view.problems()})


@blueprint.get("/api/episodes/<episode_id>")
def api_episode(episode_id: str) -> Response:
    view = run_view()
    return jsonify(episode_summary(view, valid_episode_id(episode_id, view)))


def episode_summary(view: RunView, episode_id: str, *, scores=None, labels=None,
                    order=None) -> dict[str, Any]:
    """One episode with every source's score, its label, oracle and safety events. When its
    meta.json cannot be used, `problem` says why and the fields read from it are null.
    `scores`, `labels`, `order`: the view's, when already read."""
    meta = view.meta(episode_id)
    scores = view.scores_by_episode() if scores is None else scores
    labels = view.labels() if labels is None else labels
    order = view.order() if order is None else order
    sources = scores.get(episode_id, {})
    label = labels.get(episode_id)
    values = [s["score"] for s in sources.values() if s.get("score") is not None]
    values += [label["score"]] if label else []
    values += [meta.oracle_score] if meta is not None and meta.oracle_score is not None else []
    return {
        "episode_id": episode_id, "index": order.get(episode_id), **_meta_fields(meta),
        "sources": sources, "label": label,
        "scored": any(s.get("score") is not None for s in sources.values()),
        "disagreement": (max(values) - min(values)) if len(values) >= 2 else None,
        "problem": view.meta_problem(episode_id),
    }


def _meta_fields(meta: EpisodeMeta | None) -> dict[str, Any]:
    """What the summary shows from meta.json; all null when it cannot be used."""
    if meta is None:
        return dict.fromkeys(("task", "robot", "task_name", "oracle_score", "is_success", "end_reason",
                              "num_frames", "fps", "frame_size", "duration_s", "actor",
                              "params_version", "safety"))
    safety: dict[str, Any] = {k: sum(bool(i.get(k)) for i in meta.infos) for k in SAFETY_KINDS}
    safety["events"] = sum(int(i.get("safety_events") or 0) for i in meta.infos)
    safety["fault"] = next((i["fault"] for i in meta.infos if i.get("fault")), None)
    return {
        "task": meta.task, "robot": meta.robot, "task_name": meta.task_name,
        "oracle_score": meta.oracle_score, "is_success": meta.is_success,
        "end_reason": meta.end_reason, "num_frames": meta.num_frames, "fps": meta.fps,
        "frame_size": list(meta.frame_size) if meta.frame_size is not None else None,
        "duration_s": meta.duration_s, "actor": meta.metadata.get("actor"),
        "params_version": meta.metadata.get("params_version"), "safety": safety,
    }


def filter_episodes(
    view: RunView,
    *,
    source: str = "",
    min_score: int | None = None,
    max_score: int | None = None,
    min_disagreement: int | None = None,
    labelled: bool | None = None,
) -> list[dict[str, Any]]:
    """Summaries, newest first (those with a bad meta.json too, marked), filtered by one source's
    score ("label" = the human label, "oracle_score" = the sim oracle, "" = any score), by
    disagreement (max - min over every score the episode has), and by whether a person labelled it."""
    scores, labels, order = view.scores_by_episode(), view.labels(), view.order()
    out = []
    for eid in reversed(view.episode_ids()):
        item = episode_summary(view, eid, scores=scores, labels=labels, order=order)
        if min_score is not None or max_score is not None:
            picked = _scores_of(item, source)
            lo, hi = min_score or 1, max_score or 5
            if not any(lo <= s <= hi for s in picked):
                continue
        if min_disagreement is not None and (item["disagreement"] or 0) < min_disagreement:
            continue
        if labelled is not None and (item["label"] is not None) != labelled:
            continue
        out.append(item)
    return out


def _scores_of(item: dict[str, Any], source: str) -> list[int]:
    if source == "label":
        return [item["label"]["score"]] if item["label"] else []
    if source == "oracle_score":
        return [item["oracle_score"]] if item["oracle_score"] is not None else []
    if source:
        value = item["sources"].get(source, {}).get("score")
        return [value] if value is not None else []
    values = [s["score"] for s in item["sources"].values() if s.get("score") is not None]
    return values + _scores_of(item, "label") + _scores_of(item, "oracle_score")
