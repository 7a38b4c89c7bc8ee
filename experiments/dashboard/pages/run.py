"""The run view (/): progress, live success and reward curves, reward queue, learner, actors, pause.

    GET  /api/overview     counts, config, progress, learner, actors, run state
    GET  /api/curves       success / reward / queue / latency series
    POST /api/control      {"paused": bool}: pause or resume collection
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, jsonify

from experiments.dashboard.pages.shared import json_body, render_page, run_view
from experiments.dashboard.runview import RunView
from experiments.training.curves import moving_mean

__all__ = ["blueprint", "overview", "curves"]

blueprint = Blueprint("run", __name__)


@blueprint.get("/")
def page() -> str:
    return render_page("run.html")


@blueprint.get("/api/overview")
def api_overview() -> Response:
    return jsonify(overview(run_view()))


@blueprint.get("/api/curves")
def api_curves() -> Response:
    return jsonify(curves(run_view()))


@blueprint.post("/api/control")
def api_control() -> Response:
    paused = json_body().get("paused")
    if not isinstance(paused, bool):
        raise ValueError(f"control: 'paused' must be true or false, got {paused!r}")
    view = run_view()
    view.check()
    view.run.set_paused(paused)
    return jsonify({"paused": view.run.paused()})


def overview(view: RunView) -> dict[str, Any]:
    """The run as a whole: config summary, counts, reward queue, learner, actors, state."""
    view.check()
    config = view.config() or {}
    ids = view.episode_ids()
    scores, labels = view.scores_by_episode(), view.labels()
    scored = {eid for eid, s in scores.items() if any(v.get("score") is not None for v in s.values())}
    progress = (view.metrics("progress") or [{}])[-1]
    learner_rows = view.metrics("learner")
    latencies = [float(r["latency_s"]) for r in view.metrics("reward") if r.get("latency_s") is not None]
    env, reward, run_cfg = config.get("env", {}), config.get("reward", {}), config.get("run", {})
    return {
        "run": str(view.root), "name": config.get("name") or view.root.name,
        "problems": view.problems(),
        "config": {
            "name": config.get("name"), "agent_kind": config.get("agent_kind"),
            "robot": env.get("robot"), "task": env.get("task"), "backend": env.get("backend"),
            "reward": reward.get("name"), "reward_options": reward.get("options") or {},
            "episodes_target": run_cfg.get("episodes"), "env_actors": run_cfg.get("env_actors"),
        } if config else None,
        "counts": {
            "collected": len(ids), "target": progress.get("episodes_target", run_cfg.get("episodes")),
            "scored": len(scored & set(ids)), "pending": len(set(ids) - scored),
            "failed_attempts": sum(1 for r in view.rewards() if r.get("score") is None),
            "labelled": len(set(labels) & set(ids)),
        },
        "reward_queue": {
            "pending": progress.get("pending"), "in_flight": progress.get("reward_in_flight"),
            "latency_s": {
                "n": len(latencies), "last": latencies[-1] if latencies else None,
                "mean": sum(latencies) / len(latencies) if latencies else None,
                "p50": _percentile(latencies, 0.5), "p90": _percentile(latencies, 0.9),
            },
        },
        "learner": {
            "version": progress.get("learner_version"),
            "updates": sum(int(r.get("updates") or 0) for r in learner_rows),
            "updates_per_s": learner_rows[-1].get("updates_per_s") if learner_rows else None,
            "last": {k: v for k, v in (learner_rows[-1] if learner_rows else {}).items()
                     if k not in ("kind", "time", "updates", "updates_per_s")},
        },
        "success_rate_last20": progress.get("success_rate_last20"),
        "actors": actors(view),
        "state": view.state(),
        "paused": view.run.paused(),
    }


def actors(view: RunView) -> list[dict[str, Any]]:
    """Per env actor: episodes stored, its last episode's time and params version."""
    by_actor: dict[Any, dict[str, Any]] = {}
    for row in view.metrics("episode"):
        actor = row.get("actor")
        entry = by_actor.setdefault(actor, {"actor": actor, "episodes": 0})
        entry.update(episodes=entry["episodes"] + 1, last_episode_at=row.get("time"),
                     params_version=row.get("params_version"), last_end_reason=row.get("end_reason"))
    final = (view.metrics("actors") or [{}])[-1].get("utilisation") or []
    for index, util in enumerate(final):
        if isinstance(util, dict):
            by_actor.setdefault(index, {"actor": index, "episodes": 0})["utilisation"] = util.get("utilisation")
    return sorted(by_actor.values(), key=lambda a: (a["actor"] is None, a["actor"] or 0))


def curves(view: RunView) -> dict[str, Any]:
    """Success and reward per episode (with a moving mean), queue length and reward latency."""
    view.check()
    order = view.order()
    episode_rows = sorted(
        ({**r, "episode_index": _index(r, order)} for r in view.metrics("episode") if r.get("is_success") is not None),
        key=lambda r: r["episode_index"],
    )
    success = [[r["episode_index"], float(bool(r["is_success"]))] for r in episode_rows]
    reward_rows = sorted(
        ({**r, "episode_index": _index(r, order)} for r in view.metrics("reward") if r.get("reward") is not None),
        key=lambda r: r["episode_index"],
    )
    reward = [[r["episode_index"], float(r["reward"])] for r in reward_rows]
    progress = view.metrics("progress")
    t0 = progress[0]["time"] if progress else 0.0
    return {
        "success": success, "success_mean": _with_x(success, moving_mean([y for _, y in success]).tolist()),
        "reward": reward, "reward_mean": _with_x(reward, moving_mean([y for _, y in reward]).tolist()),
        "queue": [[round(r["time"] - t0, 2), r.get("pending") or 0] for r in progress],
        "latency": [[r["episode_index"], r["latency_s"]] for r in reward_rows if r.get("latency_s") is not None],
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _index(row: dict[str, Any], order: dict[str, int]) -> int:
    """A metrics row's episode index: its own, else the episode's place in the run."""
    if isinstance(row.get("episode_index"), int):
        return row["episode_index"]
    return order.get(row.get("episode_id"), -1)


def _with_x(points: list[list[float]], ys: list[float]) -> list[list[float]]:
    return [[x, y if math.isfinite(y) else None] for (x, _), y in zip(points, ys, strict=True)]
