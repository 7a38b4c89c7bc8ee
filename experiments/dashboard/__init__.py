"""`rrl dashboard`: the operator's web page for a run: watch it, label episodes, check the reward.

    rrl dashboard --run runs/widowx_pick_place_dsrl-20261126-101500 [--port 8765] [--host 127.0.0.1]

Pages: the run view (progress, live success and reward curves, reward queue, learner, actors,
pause / resume), the episode browser (video, every source's score and raw answer, oracle,
safety events, filters), the labelling queue (the `human` reward's web mode: keys 1-5, skip,
undo) and the agreement view (human labels against a reward model). Binds 127.0.0.1 unless told
otherwise; bound anywhere else it prints a URL with an access token that every request needs.
"""

from __future__ import annotations

from experiments.dashboard.app import create_app
from experiments.dashboard.cli import main

__all__ = ["create_app", "main"]
