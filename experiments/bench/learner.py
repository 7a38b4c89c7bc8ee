"""`rrl bench learner`: learner updates per second and policy latency, on state and on pixels.

For each kind (dsrl, dsrl_na, sac, bc) and each observation ("state": a flat vector of `--obs-dim`;
"pixels": the same vector plus `--cameras` images of `--image-size`, front + wrist at 64x64 by
default) with the default `AgentConfig` (2x256 MLPs, batch 256, chunks of 4, 10 train / 5 DDIM
steps, a 3-layer CNN per camera with shared weights): fill the replay buffer with synthetic
episodes (and demos for the agents that learn on actions), time the first `step()` (compilation),
run `step()` for `--seconds`, and time one action chunk for one observation (batch 1, after
compilation, median of `--inference-calls` calls: what an env actor pays per chunk). State and
pixel cases run side by side in one process, so their ratio is fair. On pixels DSRL reads the
frozen base encoder's stored features, or with another `--dsrl-image-encoder` (the choices of
`DSRLConfig.image_encoder`) trains an encoder of its own on the stored frames. Runs on whatever
device JAX picks (CPU unless a GPU build is installed); the device is printed and written with
every row.

    rrl bench learner --kinds dsrl,sac --json bench_learner.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from agents.builders import agent_builder
from agents.config import AGENT_KINDS, DSRL_IMAGE_ENCODERS, AgentConfig
from agents.diffusion import DiffusionPolicy
from agents.learner import AgentLearner, make_learner

OBSERVATIONS = ("state", "pixels")
_EPISODES, _STEPS = 40, 60  # synthetic episodes in the buffer, control steps each


def bench_config(
    observation: str,
    cameras: list[str],
    image_size: tuple[int, int],
    dsrl_image_encoder: str = "frozen",
) -> AgentConfig:
    """The default config, seeing `cameras` at `image_size` for "pixels" (DSRL's actor and critics
    reading `dsrl_image_encoder`, `DSRLConfig.image_encoder`); a small frame ring."""
    config = AgentConfig()
    config = dataclasses.replace(
        config, dsrl=dataclasses.replace(config.dsrl, image_encoder=dsrl_image_encoder)
    )
    replay = dataclasses.replace(config.replay, frame_capacity=4 * _EPISODES * (_STEPS + 1))
    config = dataclasses.replace(config, replay=replay)
    if observation == "state":
        return config
    encoder = dataclasses.replace(
        config.diffusion.encoder, num_cameras=len(cameras), image_shape=(*image_size, 3)
    )
    return dataclasses.replace(
        config, diffusion=dataclasses.replace(config.diffusion, encoder=encoder)
    )


def _fill(learner: AgentLearner, rng: np.random.Generator) -> None:
    obs_dim = learner.agent.obs_dim
    encoder = learner.agent.config.diffusion.encoder
    chunk = learner.agent.config.diffusion.chunk_len
    decisions = -(-_STEPS // chunk)
    for i in range(_EPISODES):
        obs = rng.normal(size=(_STEPS + 1, obs_dim)).astype(np.float32)
        actions = rng.uniform(-1, 1, size=(_STEPS, 7)).astype(np.float32)
        noise = rng.normal(size=(decisions, chunk, 7)).astype(np.float32)
        images = None
        if encoder.uses_images:
            shape = (_STEPS + 1, *encoder.frame_shape)
            images = rng.integers(0, 256, size=shape, dtype=np.uint8)
        episode = {"obs": obs, "actions": actions, "images": images}
        learner.add_episode(**episode, reward=float(i % 2), terminal=bool(i % 2), noise=noise)
        if learner.agent.uses_demos:
            learner.add_episode(**episode, reward=1.0, terminal=True, demo=True)


def _inference_ms(learner: AgentLearner, calls: int) -> float:
    """Median ms of one chunk for one observation (batch 1), after compilation."""
    agent = learner.agent
    params = jax.device_put(learner.get_variables(["policy"])[0])
    obs: dict[str, Any] = {"state": np.zeros((agent.obs_dim,), np.float32)}
    encoder = agent.config.diffusion.encoder
    if encoder.uses_images:
        obs["images"] = np.zeros(encoder.frame_shape, np.uint8)
    jax.block_until_ready(agent.select_action(params, obs, jax.random.key(0)).actions)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(agent.select_action(params, obs, jax.random.key(i)).actions)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def bench_case(
    kind: str,
    observation: str,
    *,
    obs_dim: int,
    cameras: list[str],
    image_size: tuple[int, int],
    seconds: float,
    inference_calls: int,
    dsrl_image_encoder: str = "frozen",
) -> dict[str, Any]:
    """One row of the table (see the module docstring)."""
    config = bench_config(observation, cameras, image_size, dsrl_image_encoder)
    policy = DiffusionPolicy(config.diffusion, obs_dim)
    diffusion = policy.init(jax.random.key(1)) if agent_builder(kind).needs_diffusion else None
    learner = make_learner(kind, obs_dim, config, diffusion_params=diffusion)
    _fill(learner, np.random.default_rng(0))
    start = time.perf_counter()
    learner.step()
    compile_s = time.perf_counter() - start
    updates, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or updates < 5:
        learner.step()
        updates += 1
    elapsed = time.perf_counter() - start
    n, b = learner.agent.batch_shape
    pixels = observation == "pixels"
    device = jax.devices()[0]
    return {
        "agent": kind,
        "observation": observation,
        "cameras": list(cameras) if pixels else [],
        "dsrl_image_encoder": dsrl_image_encoder if pixels and kind.startswith("dsrl") else None,
        "image_size": list(image_size) if pixels else None,
        "batch": n * b,
        "updates_per_s": updates / elapsed,
        "inference_ms": _inference_ms(learner, inference_calls),
        "ms_per_update": 1e3 * elapsed / updates,
        "compile_s": compile_s,
        "updates": updates,
        "obs_dim": obs_dim,
        "device": f"{device.platform} ({device.device_kind})",
    }


def _names(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"image size must be H,W (e.g. 64,64), got {text!r}"
        ) from None
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"image size must be at least 8,8, got {text!r}")
    return h, w


def _summary(rows: list[dict[str, Any]]) -> list[str]:
    """The issue's targets, where the rows allow checking them."""
    rates = {(r["agent"], r["observation"]): r["updates_per_s"] for r in rows}
    lines = []
    if ("dsrl", "state") in rates and ("dsrl", "pixels") in rates:
        ratio = rates[("dsrl", "pixels")] / rates[("dsrl", "state")]
        lines.append(f"pixel / state DSRL update rate: {ratio:.2f} (target >= 0.33)")
    pixel_ms = [r["inference_ms"] for r in rows if r["observation"] == "pixels"]
    if pixel_ms:
        lines.append(f"slowest pixel inference: {max(pixel_ms):.2f} ms per chunk (target <= 20)")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl bench learner", description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(AGENT_KINDS), help="comma-separated kinds")
    parser.add_argument(
        "--observations", default="state,pixels", help="comma-separated: state, pixels"
    )
    parser.add_argument("--cameras", default="front,wrist", help="camera names for pixels")
    parser.add_argument("--image-size", type=_image_size, default=(64, 64), help="H,W per camera")
    parser.add_argument("--obs-dim", type=int, default=32, help="flat state size")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed updates per case")
    parser.add_argument("--inference-calls", type=int, default=100, help="chunks timed per case")
    parser.add_argument(
        "--dsrl-image-encoder",
        choices=DSRL_IMAGE_ENCODERS,
        default="frozen",
        help="on pixels, what DSRL's actor and critics read (DSRLConfig.image_encoder)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the rows here (a list)")
    args = parser.parse_args(argv)
    kinds, observations = _names(args.kinds), _names(args.observations)
    cameras = _names(args.cameras)
    unknown = [k for k in kinds if k not in AGENT_KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; choose from {list(AGENT_KINDS)}")
    if not observations or any(o not in OBSERVATIONS for o in observations):
        parser.error(
            f"--observations must name some of {list(OBSERVATIONS)}, got {args.observations!r}"
        )
    if "pixels" in observations and not cameras:
        parser.error("--cameras must name at least one camera for pixels")
    if args.obs_dim <= 0 or args.seconds <= 0 or args.inference_calls <= 0:
        parser.error("--obs-dim, --seconds and --inference-calls must be positive")
    config = AgentConfig()
    device = jax.devices()[0]
    print(
        f"learner benchmark on {device.platform} ({device.device_kind}), obs_dim {args.obs_dim}, "
        f"MLP {config.sac.hidden_dims}, chunk {config.diffusion.chunk_len}, "
        f"DDIM {config.diffusion.num_sample_steps}/{config.diffusion.num_train_steps} steps, "
        f"CNN {config.diffusion.encoder.conv_channels} -> {config.diffusion.encoder.feature_dim} "
        "per camera"
    )
    print(
        f"{'agent':8s} {'obs':7s} {'cameras':12s} {'image':7s} {'batch':>5s} {'compile s':>9s} "
        f"{'updates/s':>9s} {'ms/update':>9s} {'act ms':>7s}"
    )
    rows = []
    for kind in kinds:
        for observation in observations:
            row = bench_case(
                kind,
                observation,
                obs_dim=args.obs_dim,
                cameras=cameras,
                image_size=args.image_size,
                seconds=args.seconds,
                inference_calls=args.inference_calls,
                dsrl_image_encoder=args.dsrl_image_encoder,
            )
            rows.append(row)
            image = "x".join(map(str, row["image_size"])) if row["image_size"] else "-"
            print(
                f"{kind:8s} {observation:7s} {','.join(row['cameras']) or '-':12s} {image:7s} "
                f"{row['batch']:5d} {row['compile_s']:9.1f} {row['updates_per_s']:9.1f} "
                f"{row['ms_per_update']:9.1f} {row['inference_ms']:7.2f}",
                flush=True,
            )
    for line in _summary(rows):
        print(line)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
