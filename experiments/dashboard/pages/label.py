"""The labelling queue (/label): the `human` reward's web mode (keys 1-5, skip, undo).

    GET  /api/label/next          ?page=&exclude=id,id: lease the next episode to label
    POST /api/label               {"page", "episode_id", "score", "labeller"}
    POST /api/label/undo          {"page", "episode_id"}: only the page's own label, within the
                                  settle time (403 for another page's label, 409 once settled)
    POST /api/label/heartbeat     {"page", "episode_id"}
    POST /api/label/release       {"page", "episode_id"}

The queue, its leases and the durable labels are the LabelDesk's (experiments.dashboard.labelling).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from experiments.dashboard.pages.shared import (
    json_body,
    label_desk,
    page_id,
    render_page,
    run_view,
    valid_episode_id,
)

__all__ = ["blueprint"]

blueprint = Blueprint("label", __name__)


@blueprint.get("/label")
def page() -> str:
    return render_page("label.html")


@blueprint.get("/api/label/next")
def api_next() -> Response:
    desk = label_desk()
    exclude = frozenset(e for e in request.args.get("exclude", "").split(",") if e)
    return jsonify({**desk.next(page_id(request.args.get("page")), exclude),
                    "mode": desk.mode(), "scores": desk.allowed_scores(),
                    "undo_window_s": desk.undo_window_s(), "state": run_view().state()})


@blueprint.post("/api/label")
def api_label() -> Response:
    body = json_body()
    labeller = _labeller(body)
    row = label_desk().label(page_id(body.get("page")), valid_episode_id(body.get("episode_id"), run_view()),
                             body.get("score"), labeller)
    return jsonify({"stored": row})


@blueprint.post("/api/label/undo")
def api_undo() -> Response:
    body = json_body()
    labeller = _labeller(body)
    return jsonify(label_desk().undo(page_id(body.get("page")),
                                     valid_episode_id(body.get("episode_id"), run_view()), labeller))


@blueprint.post("/api/label/heartbeat")
def api_heartbeat() -> Response:
    body = json_body()
    return jsonify(label_desk().heartbeat(page_id(body.get("page")),
                                          valid_episode_id(body.get("episode_id"), run_view())))


@blueprint.post("/api/label/release")
def api_release() -> Response:
    body = json_body()
    label_desk().release(page_id(body.get("page")), valid_episode_id(body.get("episode_id"), run_view()))
    return jsonify({"released": body.get("episode_id")})


def _labeller(body: dict[str, Any]) -> str:
    # A name for labels.jsonl, cut so a page cannot write an arbitrarily long row.
    return str(body.get("labeller") or "web")[:64]
