"""`rrl bench learner`: learner updates per second for the default network sizes, per agent kind.

For each kind (dsrl, dsrl_na, sac, bc) with the default `AgentConfig` (2x256 MLPs, batch 256,
chunks of 4, 10 train / 5 DDIM steps): fill the replay buffer with synthetic episodes (and demos for
the agents that learn on actions), time the first `step()` (compilation), then run `step()` for
`--seconds` and report updates/s, ms per update, transitions/s consumed, and the policy's latency
for one `select_action` call (what an env actor pays per chunk). Runs on whatever device JAX picks
(CPU unless a GPU build is installed); the device is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.builders import agent_builder
from agents.config import AGENT_KINDS, AgentConfig
from agents.diffusion import DiffusionPolicy
from agents.learner import make_learner


def _fill(learner, rng: np.random.Generator, episodes: int, steps: int) -> None:
    obs_dim = learner.agent.obs_dim
    chunk = learner.agent.config.diffusion.chunk_len
    decisions = -(-steps // chunk)
    for i in range(episodes):
        obs = rng.normal(size=(steps + 1, obs_dim)).astype(np.float32)
        actions = rng.uniform(-1, 1, size=(steps, 7)).astype(np.float32)
        noise = rng.normal(size=(decisions, chunk, 7)).astype(np.float32)
        learner.add_episode(
            obs=obs, actions=actions, reward=float(i % 2), terminal=bool(i % 2), noise=noise
        )
        if learner.agent.acts_in == "action":
            learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True, demo=True)


def bench_kind(kind: str, obs_dim: int, seconds: float, config: AgentConfig) -> dict[str, Any]:
    """Timings of one agent kind (see the module docstring)."""
    policy = DiffusionPolicy(config.diffusion, obs_dim)
    diffusion = policy.init(jax.random.key(1)) if agent_builder(kind).needs_diffusion else None
    learner = make_learner(kind, obs_dim, config, diffusion_params=diffusion)
    _fill(learner, np.random.default_rng(0), episodes=40, steps=60)
    start = time.perf_counter()
    learner.step()
    compile_s = time.perf_counter() - start
    updates, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or updates < 5:
        learner.step()
        updates += 1
    elapsed = time.perf_counter() - start
    n, b = learner.agent.batch_shape
    params = learner.get_variables(["policy"])[0]
    obs = np.zeros((obs_dim,), np.float32)
    jax.block_until_ready(learner.agent.select_action(params, obs, jax.random.key(0)))
    calls, start = 50, time.perf_counter()
    for i in range(calls):
        jax.block_until_ready(learner.agent.select_action(params, obs, jax.random.key(i)).actions)
    act_ms = 1e3 * (time.perf_counter() - start) / calls
    return {
        "kind": kind,
        "compile_s": compile_s,
        "updates": updates,
        "updates_per_s": updates / elapsed,
        "ms_per_update": 1e3 * elapsed / updates,
        "transitions_per_s": updates * n * b / elapsed,
        "select_action_ms": act_ms,
        "batch": f"{n}x{b}",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl bench learner", description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(AGENT_KINDS), help="comma-separated kinds")
    parser.add_argument("--obs-dim", type=int, default=32, help="flat observation size")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed updates per kind")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in AGENT_KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; choose from {sorted(AGENT_KINDS)}")
    config = AgentConfig()
    device = jax.devices()[0]
    print(
        f"learner benchmark on {device.platform} ({device.device_kind}), obs_dim {args.obs_dim}, "
        f"MLP {config.sac.hidden_dims}, chunk {config.diffusion.chunk_len}, "
        f"DDIM {config.diffusion.num_sample_steps}/{config.diffusion.num_train_steps} steps"
    )
    header = f"{'kind':10s} {'batch':>7s} {'compile s':>10s} {'updates/s':>10s} {'ms/update':>10s}"
    header += f" {'transitions/s':>14s} {'act ms':>8s}"
    print(header)
    results = []
    for kind in kinds:
        r = bench_kind(kind, args.obs_dim, args.seconds, config)
        results.append(r)
        print(
            f"{r['kind']:10s} {r['batch']:>7s} {r['compile_s']:10.1f} {r['updates_per_s']:10.1f} "
            f"{r['ms_per_update']:10.2f} {r['transitions_per_s']:14.0f} {r['select_action_ms']:8.2f}",
            flush=True,
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"device": str(device), "obs_dim": args.obs_dim, "results": results}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0
