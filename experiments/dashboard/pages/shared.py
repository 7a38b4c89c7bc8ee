"""What every page's blueprint shares: the run it reads, request checks, JSON errors, media.

    attach_run(app, "runs/x")          # once per app: the RunView and LabelDesk its pages use
    view, desk = run_view(), label_desk()   # inside a request, the current app's
    render_page("label.html")          # a page's HTML with the run's name and the labelling mode

Bad input raises ValueError (the app answers 400), a missing episode EpisodeNotFound (404);
the error handlers that turn them into {"error": msg} live with the app, so every blueprint
answers the same way.
"""

from __future__ import annotations

import os
import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_file,
)

from experiments.dashboard.labelling import EpisodeNotFound, LabelDesk
from experiments.dashboard.media import final_frame_png, webm_bytes
from experiments.dashboard.runview import RunView

__all__ = [
    "attach_run", "run_view", "label_desk", "render_page", "error_response", "json_body",
    "page_id", "valid_episode_id", "int_arg", "media",
]

# Key of the run's RunView and LabelDesk in app.extensions.
EXTENSION = "rrl_dashboard"
_EPISODE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


def attach_run(app: Flask, run_root: str | os.PathLike) -> None:
    """Gives `app` one RunView of `run_root` and one LabelDesk (leases live in it) for all pages."""
    view = RunView(run_root)
    app.extensions[EXTENSION] = {"view": view, "desk": LabelDesk(view)}


def run_view() -> RunView:
    return current_app.extensions[EXTENSION]["view"]


def label_desk() -> LabelDesk:
    return current_app.extensions[EXTENSION]["desk"]


def render_page(template: str) -> str:
    view = run_view()
    config = view.config() or {}
    return render_template(template, run_name=config.get("name") or view.root.name,
                           run_root=str(view.root), mode=label_desk().mode())


def error_response(message: str, status: int) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("request body: expected a JSON object")
    return body


def page_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ValueError(f"page: expected the page's id (1-64 characters), got {value!r}")
    return value


def valid_episode_id(value: Any, view: RunView) -> str:
    """`value` when it names a complete episode of the run, else ValueError or EpisodeNotFound."""
    if not isinstance(value, str) or not _EPISODE_ID.match(value):
        raise ValueError(f"episode_id: {value!r} is not an episode id (letters, digits, '-', '_', '.')")
    view.check()
    # A folder still being written is named <id>.partial-<tag> and renamed into place when done.
    if ".partial-" in value or not (view.run.episode_path(value) / "meta.json").is_file():
        raise EpisodeNotFound(f"no episode {value!r} in {view.root} (a stale page, or still being written?)")
    return value


def int_arg(name: str, low: int, high: int) -> int | None:
    """The query argument `name` as an integer in [low, high], None when absent or empty."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer {low}-{high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: expected an integer {low}-{high}, got {value}")
    return value


# The episode browser and the labelling page both show an episode's video and final frame.
media = Blueprint("media", __name__)


@media.get("/media/<episode_id>/<name>")
def episode_media(episode_id: str, name: str) -> Response:
    view = run_view()
    path = view.run.episode_path(valid_episode_id(episode_id, view)) / "video.mp4"
    if not path.is_file():
        raise EpisodeNotFound(f"episode {episode_id} has no video.mp4")
    if name == "video.mp4":
        return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)
    if name == "video.webm":
        return Response(webm_bytes(path), mimetype="video/webm", headers={"Cache-Control": "max-age=3600"})
    if name == "final.png":
        return Response(final_frame_png(path), mimetype="image/png", headers={"Cache-Control": "max-age=3600"})
    raise EpisodeNotFound(f"no media {name!r}; there are video.mp4, video.webm and final.png")
