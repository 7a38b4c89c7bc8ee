"""The dashboard's Flask app: guards every request and registers one blueprint per page.

    app = create_app("runs/x")                      # bound to 127.0.0.1: no token needed
    app = create_app("runs/x", token="s3cret")      # any other host: every request needs it

Pages: /  (run view), /episodes, /label, /agreement. API (all JSON; errors are {"error": msg}
with 400 bad input, 401 no token, 403 refused (foreign host or origin, another page's label),
404 unknown episode, 409 conflict, 503 run directory gone):

    GET  /api/overview            counts, config, progress, learner, actors, run state
    GET  /api/curves              success / reward / queue / latency series
    GET  /api/episodes            ?source=&min_score=&max_score=&min_disagreement=&labelled=yes|no
                                  (an episode with a bad meta.json is listed with its "problem")
    GET  /api/episodes/<id>       one episode with every source's score and raw answer
    GET  /api/agreement           ?source=: human labels against a source
    POST /api/control             {"paused": bool}: pause or resume collection
    GET  /api/label/next          ?page=&exclude=id,id: lease the next episode to label
    POST /api/label               {"page", "episode_id", "score", "labeller"}
    POST /api/label/undo          {"page", "episode_id"}: the page's own label, within the settle time
    POST /api/label/heartbeat     {"page", "episode_id"}
    POST /api/label/release       {"page", "episode_id"}
    GET  /media/<id>/video.mp4 | video.webm | final.png

POSTs must be JSON: a page on another site cannot send that without a CORS preflight, which this
app never answers, so it cannot label or pause on the operator's behalf. Each page's routes live in
experiments.dashboard.pages (run, episodes, label, agreement; shared holds /media and the checks).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request
from werkzeug.exceptions import HTTPException

from experiments.dashboard.labelling import EpisodeNotFound, LabelConflict, NotYourLabel
from experiments.dashboard.pages import agreement, episodes, label, run
from experiments.dashboard.pages.shared import attach_run, error_response, media
from experiments.dashboard.runview import RunDirMissing

__all__ = ["create_app", "is_loopback", "TOKEN_COOKIE"]

TOKEN_COOKIE = "rrl_dashboard_token"
# One blueprint per page, and the episode media that two of them show.
BLUEPRINTS = (run.blueprint, episodes.blueprint, label.blueprint, agreement.blueprint, media)


def create_app(run_root: str | os.PathLike, *, token: str | None = None) -> Flask:
    """The app for one run directory; `token` (None = open) guards every request."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    attach_run(app, run_root)

    @app.before_request
    def guard() -> Any:
        if token is None and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            # Open (no token) only to this machine: a page whose DNS name was rebound to
            # 127.0.0.1 sends its own name as Host, and is turned away here.
            return error_response(f"rrl dashboard: this server answers only to 127.0.0.1 or localhost, not {request.host}", 403)
        if token is not None:
            given = request.args.get("token") or request.headers.get("X-RRL-Token") or request.cookies.get(TOKEN_COOKIE)
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return error_response("rrl dashboard: this server needs its access token: open the URL it printed at start", 401)
            if request.method == "GET" and request.args.get("token"):
                # Swap the token in the URL for a cookie, so it leaves the address bar and history.
                args = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
                response = redirect(request.path + (f"?{args}" if args else ""))
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
                return response
        if request.method == "POST":
            if not request.is_json:
                return error_response("rrl dashboard: POST bodies must be JSON (Content-Type: application/json)", 415)
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                return error_response(f"rrl dashboard: requests from {origin} are not allowed", 403)
        return None

    @app.errorhandler(RunDirMissing)
    def run_missing(error: RunDirMissing) -> Response:
        return error_response(str(error), 503)

    @app.errorhandler(EpisodeNotFound)
    def not_found(error: EpisodeNotFound) -> Response:
        return error_response(str(error), 404)

    @app.errorhandler(LabelConflict)
    def conflict(error: LabelConflict) -> Response:
        return error_response(str(error), 409)

    @app.errorhandler(NotYourLabel)
    def not_yours(error: NotYourLabel) -> Response:
        return error_response(str(error), 403)

    @app.errorhandler(ValueError)
    def bad_value(error: ValueError) -> Response:
        return error_response(str(error), 400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if request.path.startswith(("/api/", "/media/")):
            return error_response(f"{error.code} {error.name}: {error.description}", error.code or 500)
        return error

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
