"""The dashboard's Flask app: four pages and the JSON API they poll.

    app = create_app("runs/x")                      # bound to 127.0.0.1: no token needed
    app = create_app("runs/x", token="s3cret")      # any other host: every request needs it

Pages: /  (run view), /episodes, /label, /agreement. API (all JSON; errors are {"error": msg}
with 400 bad input, 401 no token, 404 unknown episode, 409 conflict, 503 run directory gone):

    GET  /api/overview            counts, config, progress, learner, actors, run state
    GET  /api/curves              success / reward / queue / latency series
    GET  /api/episodes            ?source=&min_score=&max_score=&min_disagreement=&labelled=yes|no
    GET  /api/episodes/<id>       one episode with every source's score and raw answer
    GET  /api/agreement           ?source=: human labels against a source
    POST /api/control             {"paused": bool}: pause or resume collection
    GET  /api/label/next          ?page=&exclude=id,id: lease the next episode to label
    POST /api/label               {"page", "episode_id", "score", "labeller"}
    POST /api/label/undo          {"page", "episode_id"}
    POST /api/label/heartbeat     {"page", "episode_id"}
    POST /api/label/release       {"page", "episode_id"}
    GET  /media/<id>/video.mp4 | video.webm | final.png

POSTs must be JSON: a page on another site cannot send that without a CORS preflight, which this
app never answers, so it cannot label or pause on the operator's behalf.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from experiments.dashboard.labelling import EpisodeNotFound, LabelConflict, LabelDesk
from experiments.dashboard.media import final_frame_png, webm_bytes
from experiments.dashboard.runview import RunDirMissing, RunView

__all__ = ["create_app", "is_loopback", "TOKEN_COOKIE"]

TOKEN_COOKIE = "rrl_dashboard_token"
_EPISODE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_PAGES = {"/": "run.html", "/episodes": "episodes.html", "/label": "label.html", "/agreement": "agreement.html"}


def create_app(run_root: str | os.PathLike, *, token: str | None = None) -> Flask:
    """The app for one run directory; `token` (None = open) guards every request."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    view = RunView(run_root)
    desk = LabelDesk(view)
    app.extensions["rrl_dashboard"] = {"view": view, "desk": desk}

    @app.before_request
    def guard() -> Any:
        if token is None and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            # Open (no token) only to this machine: a page whose DNS name was rebound to
            # 127.0.0.1 sends its own name as Host, and is turned away here.
            return _error(f"rrl dashboard: this server answers only to 127.0.0.1 or localhost, not {request.host}", 403)
        if token is not None:
            given = request.args.get("token") or request.headers.get("X-RRL-Token") or request.cookies.get(TOKEN_COOKIE)
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return _error("rrl dashboard: this server needs its access token: open the URL it printed at start", 401)
            if request.method == "GET" and request.args.get("token"):
                # Swap the token in the URL for a cookie, so it leaves the address bar and history.
                args = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
                response = redirect(request.path + (f"?{args}" if args else ""))
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
                return response
        if request.method == "POST":
            if not request.is_json:
                return _error("rrl dashboard: POST bodies must be JSON (Content-Type: application/json)", 415)
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                return _error(f"rrl dashboard: requests from {origin} are not allowed", 403)
        return None

    @app.errorhandler(RunDirMissing)
    def run_missing(error: RunDirMissing) -> Response:
        return _error(str(error), 503)

    @app.errorhandler(EpisodeNotFound)
    def not_found(error: EpisodeNotFound) -> Response:
        return _error(str(error), 404)

    @app.errorhandler(LabelConflict)
    def conflict(error: LabelConflict) -> Response:
        return _error(str(error), 409)

    @app.errorhandler(ValueError)
    def bad_value(error: ValueError) -> Response:
        return _error(str(error), 400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith(("/api/", "/media/")):
            return _error(f"{error.code} {error.name}: {error.description}", error.code or 500)
        return error

    for path, template in _PAGES.items():
        app.add_url_rule(path, template.removesuffix(".html"), _page(template, view, desk))

    # ----- run view ---------------------------------------------------------------------------
    @app.get("/api/overview")
    def api_overview() -> Response:
        return jsonify(view.overview())

    @app.get("/api/curves")
    def api_curves() -> Response:
        return jsonify(view.curves())

    @app.post("/api/control")
    def api_control() -> Response:
        paused = _body().get("paused")
        if not isinstance(paused, bool):
            raise ValueError(f"control: 'paused' must be true or false, got {paused!r}")
        view.check()
        view.run.set_paused(paused)
        return jsonify({"paused": view.run.paused()})

    # ----- episodes ---------------------------------------------------------------------------
    @app.get("/api/episodes")
    def api_episodes() -> Response:
        args = request.args
        labelled = {"yes": True, "no": False, "": None}.get(args.get("labelled", ""), "bad")
        if labelled == "bad":
            raise ValueError(f"episodes: labelled must be yes or no, got {args.get('labelled')!r}")
        items = view.episodes(
            source=args.get("source", ""), min_score=_int_arg("min_score", 1, 5),
            max_score=_int_arg("max_score", 1, 5), min_disagreement=_int_arg("min_disagreement", 0, 4),
            labelled=labelled,
        )
        sources = sorted({s for item in items for s in item["sources"]})
        return jsonify({"episodes": items, "sources": sources, "problems": view.problems()})

    @app.get("/api/episodes/<episode_id>")
    def api_episode(episode_id: str) -> Response:
        summary = view.summary(_episode_id(episode_id, view))
        if summary is None:
            raise EpisodeNotFound(f"episode {episode_id}: its meta.json cannot be read (still being written?)")
        return jsonify(summary)

    @app.get("/api/agreement")
    def api_agreement() -> Response:
        return jsonify(view.agreement(request.args.get("source", "")))

    # ----- labelling --------------------------------------------------------------------------
    @app.get("/api/label/next")
    def api_label_next() -> Response:
        exclude = frozenset(e for e in request.args.get("exclude", "").split(",") if e)
        return jsonify({**desk.next(_page_id(request.args.get("page")), exclude),
                        "mode": desk.mode(), "scores": desk.allowed_scores(),
                        "undo_window_s": desk.undo_window_s(), "state": view.state()})

    @app.post("/api/label")
    def api_label() -> Response:
        body = _body()
        labeller = str(body.get("labeller") or "web")[:64]
        row = desk.label(_page_id(body.get("page")), _episode_id(body.get("episode_id"), view),
                         body.get("score"), labeller)
        return jsonify({"stored": row})

    @app.post("/api/label/undo")
    def api_label_undo() -> Response:
        body = _body()
        labeller = str(body.get("labeller") or "web")[:64]
        return jsonify(desk.undo(_page_id(body.get("page")), _episode_id(body.get("episode_id"), view), labeller))

    @app.post("/api/label/heartbeat")
    def api_label_heartbeat() -> Response:
        body = _body()
        return jsonify(desk.heartbeat(_page_id(body.get("page")), _episode_id(body.get("episode_id"), view)))

    @app.post("/api/label/release")
    def api_label_release() -> Response:
        body = _body()
        desk.release(_page_id(body.get("page")), _episode_id(body.get("episode_id"), view))
        return jsonify({"released": body.get("episode_id")})

    # ----- media ------------------------------------------------------------------------------
    @app.get("/media/<episode_id>/<name>")
    def api_media(episode_id: str, name: str) -> Response:
        path = view.run.episode_path(_episode_id(episode_id, view)) / "video.mp4"
        if not path.is_file():
            raise EpisodeNotFound(f"episode {episode_id} has no video.mp4")
        if name == "video.mp4":
            return send_file(path, mimetype="video/mp4", conditional=True, max_age=3600)
        if name == "video.webm":
            return Response(webm_bytes(path), mimetype="video/webm", headers={"Cache-Control": "max-age=3600"})
        if name == "final.png":
            return Response(final_frame_png(path), mimetype="image/png", headers={"Cache-Control": "max-age=3600"})
        raise EpisodeNotFound(f"no media {name!r}; there are video.mp4, video.webm and final.png")

    return app


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _page(template: str, view: RunView, desk: LabelDesk):
    def render() -> str:
        config = view.config() or {}
        return render_template(template, run_name=config.get("name") or view.root.name,
                               run_root=str(view.root), mode=desk.mode())

    return render


def _error(message: str, status: int) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("request body: expected a JSON object")
    return body


def _page_id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ValueError(f"page: expected the page's id (1-64 characters), got {value!r}")
    return value


def _episode_id(value: Any, view: RunView) -> str:
    if not isinstance(value, str) or not _EPISODE_ID.match(value):
        raise ValueError(f"episode_id: {value!r} is not an episode id (letters, digits, '-', '_', '.')")
    view.check()
    # A folder still being written is named <id>.partial-<tag> and renamed into place when done.
    if ".partial-" in value or not (view.run.episode_path(value) / "meta.json").is_file():
        raise EpisodeNotFound(f"no episode {value!r} in {view.root} (a stale page, or still being written?)")
    return value


def _int_arg(name: str, low: int, high: int) -> int | None:
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
