"""The episode browser (/episodes): video, every source's score and raw answer, oracle, safety.

    GET  /api/episodes         ?source=&min_score=&max_score=&min_disagreement=&labelled=yes|no
    GET  /api/episodes/<id>    one episode with every source's score and raw answer
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from experiments.dashboard.labelling import EpisodeNotFound
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
    summary = episode_summary(view, valid_episode_id(episode_id, view))
    if summary is None:
        raise EpisodeNotFound(f"episode {episode_id}: its meta.json cannot be read (still being written?)")
    return jsonify(summary)


def episode_summary(view: RunView, episode_id: str, *, scores=None, labels=None,
                    order=None) -> dict[str, Any] | None:
    """One episode with every source's score, its label, oracle and safety events; None while
    its meta.json cannot be read. `scores`, `labels`, `order`: the view's, when already read."""
    meta = view.meta(episode_id)
    if meta is None:
        return None
    scores = view.scores_by_episode() if scores is None else scores
    labels = view.labels() if labels is None else labels
    order = view.order() if order is None else order
    sources = scores.get(episode_id, {})
    label = labels.get(episode_id)
    infos = meta.get("infos") or []
    extra = meta.get("metadata") or {}
    safety = {k: sum(bool(i.get(k)) for i in infos if isinstance(i, dict)) for k in SAFETY_KINDS}
    safety["events"] = sum(int(i.get("safety_events") or 0) for i in infos if isinstance(i, dict))
    safety["fault"] = next((i["fault"] for i in infos if isinstance(i, dict) and i.get("fault")), None)
    values = [s["score"] for s in sources.values() if s.get("score") is not None]
    values += [label["score"]] if label else []
    values += [meta["oracle_score"]] if meta.get("oracle_score") is not None else []
    return {
        "episode_id": episode_id, "index": order.get(episode_id), "task": meta.get("task", ""),
        "robot": meta.get("robot", ""), "task_name": meta.get("task_name", ""),
        "oracle_score": meta.get("oracle_score"), "is_success": meta.get("is_success"),
        "end_reason": meta.get("end_reason"), "num_frames": meta.get("num_frames"),
        "fps": meta.get("fps"), "frame_size": meta.get("frame_size"),
        "duration_s": max(0.0, float(meta.get("ended_at") or 0) - float(meta.get("started_at") or 0)),
        "actor": extra.get("actor"), "params_version": extra.get("params_version"),
        "sources": sources, "label": label, "safety": safety,
        "scored": any(s.get("score") is not None for s in sources.values()),
        "disagreement": (max(values) - min(values)) if len(values) >= 2 else None,
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
    """Summaries, newest first, filtered by one source's score ("label" = the human label,
    "oracle_score" = the sim oracle, "" = any score), by disagreement (max - min over every
    score the episode has), and by whether a person labelled it."""
    scores, labels, order = view.scores_by_episode(), view.labels(), view.order()
    out = []
    for eid in reversed(view.episode_ids()):
        item = episode_summary(view, eid, scores=scores, labels=labels, order=order)
        if item is None:
            continue
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
