"""`rrl evaluate`: success rate of a run's policy in sim, with a 95% interval.

    rrl evaluate runs/widowx_pick_place_dsrl-20261126-101500 --episodes 50 [--base [--zero-noise]] [--json]

Loads the run's config and its latest learner checkpoint (`--base`: the pretrained diffusion
policy it started from, sampling N(0, I) noise; `--base --zero-noise`: that policy decoding the
zero noise, its most likely chunk) and runs fresh episodes on seeds that training never used.
Prints the success rate (sim oracle), its Wilson 95% interval and the oracle's mean score;
`--json` prints them as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import jax
import numpy as np

from agents.agent import make_agent
from agents.builders import agent_builder
from agents.learner import make_learner
from configs.overrides import config_from_json
from envs.observation_spec import spec_of_config
from experiments.rundir import RunDir
from experiments.training.base_policy import ensure_pretrained, pretrained_dir, refuse_other_spec
from experiments.training.rollouts import collect_episode, make_recorder, obs_dim_of, policy_chunks

__all__ = ["evaluate_run", "wilson_interval", "main"]

def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (sound at 0 % and 100 %)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _policy(run: RunDir, *, base: bool, zero_noise: bool = False):
    """(config, agent, params, deterministic) of the policy to evaluate."""
    config = config_from_json(run.read_config())
    spec = spec_of_config(config.env)
    base_checkpoint = pretrained_dir(config) / "diffusion"
    if base_checkpoint.exists():  # refused before the env or the policy is built
        refuse_other_spec(base_checkpoint, spec)
    if not base and run.checkpoint_path.exists():
        refuse_other_spec(run.checkpoint_path, spec)
    diffusion_params, obs_dim, _ = ensure_pretrained(config)
    if base or not agent_builder(config.agent_kind).has_actor:  # the diffusion policy acts
        agent = make_agent("bc", obs_dim, config.agent)
        params = {"diffusion": diffusion_params}
        if not base:
            learner = make_learner("bc", obs_dim, config.agent, diffusion_params=diffusion_params)
            learner.restore(run.checkpoint_path)
            params = learner.get_variables(["policy"])[0]
        return config, agent, params, zero_noise  # a diffusion policy samples its noise unless told
    checkpoint = run.checkpoint_path
    if not checkpoint.exists():
        raise FileNotFoundError(f"{run.root} has no learner checkpoint at {checkpoint}")
    learner = make_learner(config.agent_kind, obs_dim, config.agent, diffusion_params=diffusion_params)
    learner.restore(checkpoint)
    agent = make_agent(config.agent_kind, obs_dim, config.agent)
    return config, agent, learner.get_variables(["policy"])[0], True


def _policy_label(config, *, base: bool, zero_noise: bool) -> str:
    if not base:
        return config.agent_kind
    return "base, zero noise" if zero_noise else "base"


def evaluate_run(
    run_dir: Path, episodes: int, *, base: bool = False, seed: int = 0, draws: int = 1,
    zero_noise: bool = False,
) -> dict:
    """Runs `episodes` fresh scenes, each `draws` times with other policy noise; returns
    success_rate, ci95, mean_oracle_score, episodes (scenes x draws) and, with draws > 1,
    `steerable_scenes`: the share of scenes where at least one draw succeeded. Noise-space RL
    (DSRL) can only choose among what the base policy can do, so that share bounds what it can
    reach on these scenes. `zero_noise` (base policy only) decodes the zero noise instead of a
    sampled one: the base policy's most likely chunk, where DSRL's noise actor starts."""
    if zero_noise and not base:
        raise ValueError("zero_noise evaluates the base policy's zero-noise output; add --base")
    if zero_noise and draws > 1:
        raise ValueError("zero_noise is one fixed noise: every draw would be the same; drop --draws")
    run = RunDir(run_dir)
    run.check()
    config, agent, params, deterministic = _policy(run, base=base, zero_noise=zero_noise)
    recorder = make_recorder(config.env, cameras=config.env.cameras)
    spec = spec_of_config(config.env)
    if obs_dim_of(recorder, spec) != agent.obs_dim:
        raise ValueError(f"evaluate: the env gives {spec.describe()}, the policy expects "
                         f"{agent.obs_dim}-number state vectors")
    key = jax.random.key(seed)
    outcomes = np.zeros((episodes, draws), bool)
    scores = []
    for index in range(episodes):
        for draw in range(draws):
            chunk_key = jax.random.fold_in(jax.random.fold_in(key, index), draw)
            chunks = policy_chunks(agent, params, chunk_key, spec, deterministic=deterministic and draws == 1)
            episode = collect_episode(recorder, chunks, RunDir.evaluation_scene_seed(seed, index))
            outcomes[index, draw] = bool(episode.is_success)
            scores.append(episode.oracle_score)
    recorder.close()
    successes, total = int(outcomes.sum()), outcomes.size
    low, high = wilson_interval(successes, total)
    result = {"success_rate": successes / total if total else 0.0, "ci95": [low, high],
              "mean_oracle_score": float(np.mean(scores)) if scores else None, "episodes": total,
              "policy": _policy_label(config, base=base, zero_noise=zero_noise), "run": str(run.root)}
    if draws > 1:
        result["steerable_scenes"] = float(outcomes.any(axis=1).mean())
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run directory (or its checkpoints/latest)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--base", action="store_true", help="evaluate the pretrained base policy")
    parser.add_argument("--seed", type=int, default=0, help="picks the evaluation seeds")
    parser.add_argument("--draws", type=int, default=1,
                        help="runs per scene with other policy noise (>1 also reports the share "
                             "of scenes where any draw succeeded: what DSRL can at best reach)")
    parser.add_argument("--zero-noise", action="store_true",
                        help="with --base: decode the zero noise (the base policy's most likely "
                             "chunk, where DSRL starts) instead of sampling it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.draws < 1:
        parser.error(f"--episodes and --draws must be >= 1, got {args.episodes} and {args.draws}")
    run_dir = RunDir.containing(args.run).root
    try:
        result = evaluate_run(run_dir, args.episodes, base=args.base, seed=args.seed, draws=args.draws,
                              zero_noise=args.zero_noise)
    except (FileNotFoundError, ValueError) as error:
        print(f"rrl evaluate: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        low, high = result["ci95"]
        print(f"{result['policy']} policy: success {result['success_rate']:.0%} "
              f"(95% CI {low:.0%}-{high:.0%}) over {result['episodes']} episodes; "
              f"mean oracle score {result['mean_oracle_score']:.2f}")
        if "steerable_scenes" in result:
            print(f"scenes where at least one of {args.draws} draws succeeded: {result['steerable_scenes']:.0%}")
    return 0
