"""The published DSRL settings as a preset beside the project's stabilised DSRL configs.

    config = dsrl_reference(get_config("widowx_pick_place_dsrl"))  # -> widowx_pick_place_dsrl_ref

`dsrl_reference` turns a named DSRL config (`<robot>_<task>_dsrl`, or `..._dsrl_pixels`) into its
`_ref` sibling: plain SAC in the noise space as the DSRL authors run it, for comparison with the
project's settings (Monte-Carlo targets clipped to the reward range, 5 critics, a noise prior).
The env, the base policy and its pretraining, the reward source and the run stay as they are.

Sources (Wagenmaker et al. 2025, "Steering Your Diffusion Policy with Latent Space RL"):
  [R] github.com/ajwagen/dsrl, Stable-Baselines3 SAC: cfg/robomimic/dsrl_{can,lift,square}.yaml
      (DSRL-NA), cfg/robomimic/dsrl_transport.yaml (DSRL-SAC), train_dsrl.py, utils.py
      (collect_rollouts), README.md ("Tips for hyperparameter tuning").
  [P] github.com/nakamotoo/dsrl_pi0, the authors' JAX SAC (jaxrl2) for the real robot and pi0:
      examples/launch_train_{real,sim}.py, examples/scripts/run_{real,libero,aloha}.sh,
      examples/train_utils_{real,sim}.py, jaxrl2/networks/learned_std_normal_policy.py.

Departures from our `_dsrl` configs, with the published values (ours -> here):
| setting | published | ours -> here |
|---|---|---|
| critic target | TD, unclipped [R][P] | Monte-Carlo clipped to [0, 1] -> "td", None |
| critics | 2, min in the target [R][P real] | 5 -> 2 |
| target entropy | 0 [R][P real, aloha] | -0.25 x 28 -> 0 |
| actor log std at init | 0 [R passes log_std_init=0; P: heads at 1e-2, bias 0] | ~-1.5 -> 0 (std 1, mean ~0) |
| temperature | learned, starts at 1, lr 3e-4 [R][P] | 0.1, lr 1e-3 -> 1, 3e-4 |
| noise box | 1.5 [R can/lift/square; README "around 1.5"]; 1.0 [R transport, P libero]; 2.5 [P real] | 1.0 (pick_place_multi 1.5) -> 1.5 |
| noise prior | none [R][P] | 0.2 (pick_place_multi 0) -> 0 |
| acting actor | the trained one [R][P] | pick_place_multi: a Polyak average, rate 0.002 -> the trained one |
| warm-up | N(0, I) clipped to the box, 1501-20001 steps x 4 envs [R]; N(0, I) until the first update: 500 decisions [P libero], 1 episode [P real] | none -> 25 episodes (a) |
| first update | right after the warm-up [R learning_starts=1][P] | 400 transitions -> 1 (b) |
| updates per decision | 20 [P libero, aloha]; 30 [P real]; README "utd around 20" | 2 -> 20 (c) |
| hidden widths | 3 x 2048 [R can/lift/square, README]; 3 x 1024 [P real]; 3 x 128 [R transport, P libero, aloha] | 2 x 256 -> 3 x 128 (d) |
Unchanged, as published: batch 256, discount 0.99, tau 0.005 [R can/lift/transport][P real]; Adam 3e-4 for actor and
critics [R] ([P real]: actor 1e-4); critic LayerNorm [R]; no entropy term in the critic target
(`backup_entropy=False`, as [P]; [R]'s SB3 SAC backs it up); swish activations ([R] tanh, [P]
relu): the project's networks.

(a) [P libero]'s 500 decisions: 25 pick_place episodes of 20 decisions (open_drawer: 15 each).
    [R]'s ~6000 (can, lift) warm-up transitions would be 1.5 times a 200-episode run here.
(b) The warm-up gates the first update (`DSRLConfig.warmup_episodes`); the learner then owes the
    warm-up's 20 x 500 updates at once, as [P real] runs 5000 updates after its first episode.
(c) Per stored decision, as [P] counts it (one env). [R]'s `utd: 20` is per step of 4 envs (5 per
    transition); its README recommends "utd around 20".
(d) Scaled for 2 CPU cores. DSRL learner updates/s (state, batch 256, 2 critics), measured
    round-robin on this 2-core machine under a load average of 10-15 (other runs going), so read
    the ratios: 3 x 128: 44, 2 x 256: 23, 3 x 256: 12, 3 x 512: 5.0, 3 x 1024: 1.3,
    3 x 2048: 0.30. A 200-episode pick_place run owes 4000 x 20 = 80k updates: ~30 minutes at
    3 x 128 (a width the authors publish for DSRL-SAC), ~3 days at 3 x 2048.
"""

from __future__ import annotations

import dataclasses

from configs.experiment import ExperimentConfig

__all__ = ["REFERENCE_SUFFIX", "dsrl_reference"]

REFERENCE_SUFFIX = "_ref"
_SOURCE_SUFFIXES = ("_dsrl", "_dsrl_pixels")


def dsrl_reference(config: ExperimentConfig) -> ExperimentConfig:
    """The `_ref` sibling of a named DSRL config: the published DSRL-SAC settings (module
    docstring), the env, base policy, reward and run of `config` unchanged."""
    if config.agent_kind != "dsrl" or not config.name.endswith(_SOURCE_SUFFIXES):
        raise ValueError(
            f"dsrl_reference: needs a named DSRL config (<robot>_<task>_dsrl or "
            f"<robot>_<task>_dsrl_pixels, agent_kind 'dsrl'), got {config.name!r} with agent_kind "
            f"{config.agent_kind!r}"
        )
    agent = config.agent
    sac = dataclasses.replace(
        agent.sac,
        critic_target="td",
        target_range=None,
        num_critics=2,
        target_entropy_scale=0.0,
        init_log_std=0.0,
        init_temperature=1.0,
        temperature_lr=3e-4,
        actor_lr=3e-4,
        critic_lr=3e-4,
        hidden_dims=(128, 128, 128),
        critic_layer_norm=True,
        backup_entropy=False,
        batch_size=256,
        discount=0.99,
        tau=0.005,
        critic_updates_per_step=1,
        actor_average_tau=None,
    )
    dsrl = dataclasses.replace(
        agent.dsrl, noise_scale=1.5, noise_prior_weight=0.0, warmup_episodes=25
    )
    replay = dataclasses.replace(agent.replay, min_transitions=1, utd_ratio=20.0)
    agent = dataclasses.replace(agent, sac=sac, dsrl=dsrl, replay=replay)
    return dataclasses.replace(config, name=config.name + REFERENCE_SUFFIX, agent=agent)
