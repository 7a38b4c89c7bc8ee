"""The `rrl dashboard` command: checks the run directory, picks the token, serves the app."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from pathlib import Path

from werkzeug.serving import make_server

from experiments.dashboard.app import create_app, is_loopback

__all__ = ["main"]

TOKEN_ENV = "RRL_DASHBOARD_TOKEN"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rrl dashboard",
        description="Web page for a run: progress, episodes, labelling (the human reward), agreement.",
    )
    parser.add_argument("--run", type=Path, required=True, help="the run directory (runs/<name>-<time>)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; anything but loopback requires the printed access token")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.run.is_dir():
        print(f"rrl dashboard: run directory {args.run} does not exist (runs are made by `rrl train`)",
              file=sys.stderr)
        return 2
    token = None
    if not is_loopback(args.host):
        token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(18)
    try:
        server = make_server(args.host, args.port, create_app(args.run, token=token), threaded=True)
    except OSError as error:
        print(f"rrl dashboard: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    # One line per request (the pages poll every few seconds, and a URL may carry the token) is
    # noise; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    host = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{host}:{server.server_port}/"
    print(f"rrl dashboard: {args.run} at {url} (Ctrl-C stops)", flush=True)
    if token is not None:
        print(f"rrl dashboard: bound to {args.host}, so every request needs the access token; open\n"
              f"  {url}?token={token}\n(set {TOKEN_ENV} to choose it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("rrl dashboard: stopped", flush=True)
    finally:
        server.server_close()
    return 0
