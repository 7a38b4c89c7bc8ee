"""`rrl bench reward`: what the reward clients cost on our side, and how well they overlap requests.

1. Client-side cost per episode (sub-sample, encode, build the request, parse the reply) for a
   10 s episode at 5 fps and 256x256, on one core (x264 runs single-threaded). Target <= 50 ms.
2. `score_many` with concurrency 8 on 32 episodes against a local vLLM-shaped server that takes
   1 s per request. Target <= 5 s (the floor is 4 s: four waves of eight).

The local server is the fake vLLM server that ships in reward_clients.testing; it binds
127.0.0.1 and contacts nothing else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

import reward_clients
from envs.episode import Episode
from reward_clients import testing as reward_servers

TARGET_CLIENT_MS = 50.0
TARGET_MANY_S = 5.0


def scene_episode(
    episode_id: str, task: str, noise: float = 1.0, seconds: float = 10.0, fps: float = 5.0, size: int = 256
) -> Episode:
    """A synthetic episode: a textured table and a block sliding across it, plus Gaussian pixel
    noise of std `noise` grey levels: 0 is like a sim render, 1 like a camera image downscaled to
    256x256, 3 a noisy camera (x264's cost grows with noise, since noise does not compress)."""
    rng = np.random.default_rng(zlib.crc32(episode_id.encode()))
    count = int(round(seconds * fps))
    yy, xx = np.mgrid[0:size, 0:size]
    table = np.stack([120 + 40 * np.sin(xx / 23.0), 100 + 30 * np.cos(yy / 17.0), 80 + 0 * xx], axis=-1)
    frames = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        image = table + rng.normal(0, noise, table.shape) if noise else table.copy()
        x = int(20 + (size - 80) * i / max(1, count - 1))
        image[100:150, x : x + 50] = (200, 40, 40)
        frames[i] = np.clip(image, 0, 255)
    return Episode(episode_id=episode_id, task=task, frames=frames, fps=fps)


def _time(fn, reps: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `fn` over `reps` runs (after one warm-up)."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def client_cost(reps: int) -> list[dict[str, Any]]:
    camera = scene_episode("bench-0", "open the drawer", noise=1.0)
    reply = {"choices": [{"message": {"content": "The drawer is open.\nANSWER: 4"}, "finish_reason": "stop"}]}
    gemini_reply = {"candidates": [{"content": {"parts": [{"text": "ANSWER: 4"}]}, "finishReason": "STOP"}]}
    rows = []
    roboreward = reward_clients.make("roboreward")
    cases = [
        ("roboreward, camera-like, fps 2 (20 fr)", roboreward, camera, reply),
        ("roboreward, sim render, fps 2", roboreward, scene_episode("bench-1", "open the drawer", noise=0), reply),
        ("roboreward, noisy camera, fps 2", roboreward, scene_episode("bench-2", "open the drawer", noise=3), reply),
        (
            "roboreward, camera-like, all 50 fr",
            reward_clients.make("roboreward", fps=None, max_frames=64),
            camera,
            reply,
        ),
        (
            "gemini_er, camera-like, fps 2",
            reward_clients.make("gemini_er", api_key="bench-not-a-key"),
            camera,
            gemini_reply,
        ),
    ]
    for name, client, episode, canned in cases:

        def once(client=client, episode=episode, canned=canned) -> None:
            prepared = client.prepare(episode)
            assert reward_clients.parse_answer(client.read_reply(canned).text) == 4
            assert prepared.data

        wall_ms, cpu_ms = _time(once, reps)
        size = len(client.prepare(episode).data)
        rows.append({"case": name, "wall_ms": wall_ms, "cpu_ms": cpu_ms, "request_bytes": size})
        client.close()
    return rows


def score_many_time(episodes: int, concurrency: int, latency_s: float) -> dict[str, Any]:
    batch = [scene_episode(f"bench-{i}", f"task {i}") for i in range(episodes)]
    answers = {f"task {i}": f"ANSWER: {1 + i % 5}" for i in range(episodes)}
    with reward_servers.FakeVLLM(answers=answers, latency_s=latency_s) as server:
        with reward_clients.make("roboreward", base_url=server.base_url, timeout_s=30.0) as client:
            start = time.perf_counter()
            results = client.score_many(batch, max_concurrency=concurrency)
            elapsed = time.perf_counter() - start
    correct = sum(r.score == 1 + i % 5 for i, r in enumerate(results))
    return {
        "episodes": episodes,
        "concurrency": concurrency,
        "latency_s": latency_s,
        "elapsed_s": elapsed,
        "scored_correctly": correct,
        "max_in_flight": server.max_in_flight,
        "floor_s": latency_s * -(-episodes // concurrency),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl bench reward", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per client-cost case")
    parser.add_argument("--episodes", type=int, default=32, help="episodes for the score_many test")
    parser.add_argument("--concurrency", type=int, default=8, help="max_concurrency for score_many")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the local server takes per request")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    print("reward client cost per episode (10 s at 5 fps, 256x256; sub-sample + encode + request + parse)")
    rows = client_cost(args.reps)
    for row in rows:
        print(
            f"  {row['case']:40s} {row['wall_ms']:7.1f} ms wall  {row['cpu_ms']:7.1f} ms CPU  "
            f"{row['request_bytes'] / 1e3:7.1f} kB request"
        )
    headline = rows[0]["cpu_ms"]
    cost_ok = headline <= TARGET_CLIENT_MS
    print(f"  target <= {TARGET_CLIENT_MS:g} ms CPU (camera-like, default settings): {'met' if cost_ok else 'MISSED'}")

    many = score_many_time(args.episodes, args.concurrency, args.latency)
    many_ok = many["elapsed_s"] <= TARGET_MANY_S and many["scored_correctly"] == many["episodes"]
    print(
        f"score_many: {many['episodes']} episodes, concurrency {many['concurrency']}, server latency "
        f"{many['latency_s']:g} s: {many['elapsed_s']:.2f} s (floor {many['floor_s']:g} s), "
        f"{many['scored_correctly']}/{many['episodes']} scored, {many['max_in_flight']} in flight at most"
    )
    print(f"  target <= {TARGET_MANY_S:g} s: {'met' if many_ok else 'MISSED'}")

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"client_cost": rows, "score_many": many}, indent=1))
    return 1 if args.strict and not (cost_ok and many_ok) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
