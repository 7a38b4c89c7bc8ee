"""The impure learner: checkpoints and resume, RLPD batches, update-to-data accounting, images."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from agents.checkpoint import load_diffusion, save_diffusion
from agents.config import (
    AGENT_KINDS,
    AgentConfig,
    EncoderConfig,
    ReplayConfig,
    SACConfig,
    config_from_dict,
)
from agents.diffusion import DiffusionPolicy
from agents.learner import make_learner
from tests.agents.helpers import OBS_DIM, make_demo, make_images


def _assert_trees_equal(a, b) -> None:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 0
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _episodes(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [make_demo(rng) for _ in range(count)]


def _sac_learner(config: AgentConfig, episodes, demos):
    learner = make_learner("sac", OBS_DIM, config)
    for i, (obs, actions) in enumerate(episodes):
        learner.add_episode(obs=obs, actions=actions, reward=0.25 * (i % 3), terminal=False)
    for obs, actions in demos:
        learner.add_episode(obs=obs, actions=actions, reward=0.0, terminal=True, demo=True)
    return learner


def test_save_restore_continues_counters_and_reproduces_the_uninterrupted_run(config, tmp_path):
    episodes, demos = _episodes(6), _episodes(4, seed=1)
    learner = _sac_learner(config, episodes, demos)
    for _ in range(2):
        learner.step()
    learner.save(tmp_path / "ckpt")
    saved_params = learner.get_variables(["critic", "actor"])
    for _ in range(2):
        learner.step()
    after_four = learner.get_variables(["critic", "actor", "target_critic", "log_alpha"])
    assert learner.counters["updates"] == 4

    # A fresh learner (a new process after a crash) restores params, counters and RNG; the
    # buffer is rebuilt from stored episodes without counting them twice.
    fresh = _sac_learner(config, [], [])
    fresh.restore(tmp_path / "ckpt")
    assert fresh.counters == {"updates": 2, "transitions": 24, "episodes": 6, "demo_episodes": 4}
    assert int(fresh.state.step) == 2 and fresh.get_variables(["version"]) == [2]
    _assert_trees_equal(fresh.get_variables(["critic", "actor"]), saved_params)
    for i, (obs, actions) in enumerate(episodes):
        fresh.add_episode(
            obs=obs, actions=actions, reward=0.25 * (i % 3), terminal=False, count=False
        )
    assert fresh.counters["transitions"] == 24 and len(fresh.replay) == 24

    # Restoring into the running learner and stepping to 4 gives exactly the uninterrupted run,
    # with the same compiled update.
    learner.restore(tmp_path / "ckpt")
    assert learner.counters["updates"] == 2
    for _ in range(2):
        learner.step()
    assert learner.counters["updates"] == 4 and learner.num_traces == 1
    _assert_trees_equal(
        learner.get_variables(["critic", "actor", "target_critic", "log_alpha"]), after_four
    )
    learner.save(tmp_path / "ckpt")  # overwriting a checkpoint replaces it
    fresh.restore(tmp_path / "ckpt")
    assert fresh.counters["updates"] == 4
    with pytest.raises(ValueError, match="checkpoint"):
        make_learner("bc", OBS_DIM, config, diffusion_params=_untrained(config)).restore(
            tmp_path / "ckpt"
        )


def _untrained(config: AgentConfig) -> dict:
    return DiffusionPolicy(config.diffusion, OBS_DIM).init(jax.random.key(0))


def test_a_checkpoint_written_under_the_old_kind_name_restores(config, tmp_path):
    """Checkpoints from before the rename say "dsrl_sac" in meta.json; they are "dsrl" now."""
    learner = make_learner("dsrl", OBS_DIM, config, diffusion_params=_untrained(config))
    learner.counters["updates"] = 3
    learner.save(tmp_path / "ckpt")
    meta_path = tmp_path / "ckpt" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["kind"] == "dsrl"
    meta_path.write_text(json.dumps({**meta, "kind": "dsrl_sac"}))
    fresh = make_learner("dsrl", OBS_DIM, config, diffusion_params=_untrained(config))
    fresh.restore(tmp_path / "ckpt")
    assert fresh.counters["updates"] == 3
    _assert_trees_equal(fresh.get_variables(["actor"]), learner.get_variables(["actor"]))


def test_rlpd_batches_are_half_online_half_demos(config):
    learner = _sac_learner(config, _episodes(3), _episodes(3, seed=1))
    batch = learner.sample_batch()
    n, b = learner.agent.batch_shape
    from_demos = batch["episode_return"] == config.replay.demo_reward
    np.testing.assert_array_equal(from_demos.sum(axis=1), [b // 2] * n)
    assert batch["obs"]["state"].shape == (n, b, OBS_DIM) and batch["reward"].dtype == np.float32
    # The next batch differs (the host stream is keyed by the update count).
    learner.counters["updates"] += 1
    assert not np.array_equal(learner.sample_batch()["obs"]["state"], batch["obs"]["state"])


def test_updates_owed_follow_the_update_to_data_ratio_after_warm_up(config):
    replay = dataclasses.replace(config.replay, min_transitions=8, utd_ratio=2.0)
    learner = make_learner("sac", OBS_DIM, dataclasses.replace(config, replay=replay))
    obs, actions = make_demo(np.random.default_rng(0))
    assert learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True) == 4
    assert learner.updates_owed() == 0  # 4 < 8 transitions: still warming up
    learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True)
    assert learner.updates_owed() == 16
    learner.counters["updates"] = 10
    assert learner.updates_owed() == 6


def test_get_variables_and_add_episode_validate_names_and_inputs(config, pretrained):
    params, _ = pretrained
    learner = make_learner("dsrl", OBS_DIM, config, diffusion_params=params)
    policy, version = learner.get_variables(["policy", "version"])
    assert set(policy) == {"actor", "obs_stats", "diffusion"} and version == 0
    assert isinstance(jax.tree.leaves(policy)[0], np.ndarray)  # host copies for actors
    with pytest.raises(ValueError, match="valid names"):
        learner.get_variables(["critc"])
    obs, actions = make_demo(np.random.default_rng(0))
    with pytest.raises(ValueError, match="noise"):
        learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True)
    with pytest.raises(ValueError, match="demos"):
        learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True, demo=True)
    with pytest.raises(ValueError, match="obs must be"):
        learner.add_episode(obs=obs[:, :3], actions=actions, reward=1.0, terminal=True)
    with pytest.raises(ValueError, match="diffusion_params"):
        make_learner("dsrl_na", OBS_DIM, config)


@pytest.mark.parametrize("kind", AGENT_KINDS)
def test_each_kind_learns_on_two_cameras_with_one_compiled_update(kind, image_config):
    config = image_config
    learner = make_learner(kind, OBS_DIM, config, diffusion_params=_untrained(config))
    rng = np.random.default_rng(0)
    for i in range(3):
        obs, actions = make_demo(rng)
        images = make_images(rng, len(obs))
        noise = rng.normal(size=(4, 4, 7)).astype(np.float32)
        learner.add_episode(
            obs=obs, actions=actions, reward=float(i % 2), terminal=True, noise=noise, images=images
        )
        if learner.agent.uses_demos:
            learner.add_episode(
                obs=obs, actions=actions, reward=1.0, terminal=True, demo=True, images=images
            )
    assert len(learner.replay) == 12 and learner.replay.num_frames == 15  # K + 1 per episode
    batch = learner.sample_batch()
    key = "features" if kind.startswith("dsrl") else "images"
    assert set(batch["obs"]) == set(batch["next_obs"]) == {"state", key}
    metrics = [learner.step() for _ in range(2)]
    assert all(np.isfinite(v) for m in metrics for v in m.values()), metrics
    assert learner.num_traces == 1  # the second update reused the compiled one
    policy = learner.get_variables(["policy"])[0]
    one = {"state": obs[0], "images": images[0]}
    step = learner.agent.select_action(policy, one, jax.random.key(0), deterministic=False)
    assert step.actions.shape == (4, 7) and float(np.abs(step.actions).max()) <= 1.0
    batch_of_two = {"state": obs[:2], "images": images[:2]}
    assert learner.agent.select_action(policy, batch_of_two, jax.random.key(0)).actions.shape == (
        2,
        4,
        7,
    )
    # An episode without images, or with the wrong camera count, is refused with the shape needed.
    expected = r"images uint8 \(15, 2, 16, 16, 3\)"
    with pytest.raises(ValueError, match=expected + r".*got none"):
        learner.add_episode(obs=obs, actions=actions, reward=1.0, terminal=True, noise=noise)
    with pytest.raises(ValueError, match=expected + r".*got uint8 \(15, 1, 16, 16, 3\)"):
        learner.add_episode(
            obs=obs, actions=actions, reward=1.0, terminal=True, noise=noise, images=images[:, :1]
        )
    with pytest.raises(ValueError, match="needs 'images'"):
        learner.agent.select_action(policy, obs[0], jax.random.key(0))


def test_pretrained_diffusion_checkpoint_round_trip(config, pretrained, tmp_path):
    params, metrics = pretrained
    save_diffusion(tmp_path / "base", params, config.diffusion, OBS_DIM, metrics)
    loaded, loaded_config, obs_dim = load_diffusion(tmp_path / "base")
    assert loaded_config == config.diffusion and obs_dim == OBS_DIM
    _assert_trees_equal(loaded, params)
    policy = DiffusionPolicy(loaded_config, obs_dim)
    obs, noise = np.zeros((2, OBS_DIM), np.float32), np.ones((2, 4, 7), np.float32)
    np.testing.assert_array_equal(
        policy.sample_actions_jit(loaded, obs, noise), policy.sample_actions_jit(params, obs, noise)
    )


def test_configs_reject_bad_values_and_rebuild_from_dicts():
    with pytest.raises(ValueError, match="discount"):
        SACConfig(discount=1.5)
    with pytest.raises(ValueError, match="num_sample_steps"):
        AgentConfig.debug().diffusion.__class__(num_train_steps=5, num_sample_steps=6)
    with pytest.raises(ValueError, match="demo_ratio"):
        ReplayConfig(demo_ratio=-0.1)
    with pytest.raises(ValueError, match="kind must be"):
        make_learner("ppo", OBS_DIM, AgentConfig.debug())
    config = AgentConfig.debug(seed=3)
    assert config_from_dict(AgentConfig, dataclasses.asdict(config)) == config
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict(SACConfig, {"gamma": 0.9})


def test_encoder_config_counts_cameras_and_reads_the_older_use_images_flag():
    assert not EncoderConfig().uses_images and EncoderConfig(num_cameras=2).uses_images
    assert EncoderConfig(num_cameras=2, feature_dim=16).image_feature_size == 32
    with pytest.raises(ValueError, match=r"num_cameras must be an int >= 0.*got -1"):
        EncoderConfig(num_cameras=-1)
    with pytest.raises(ValueError, match=r"augment_pad must be an int in \[0, 8\].*got 9"):
        EncoderConfig(image_shape=(16, 16, 3), augment_pad=9)
    # Run directories and checkpoints written before hold `use_images` (True meant one camera).
    old = {"use_images": True, "image_shape": [16, 16, 3], "conv_channels": [4], "feature_dim": 8}
    assert config_from_dict(EncoderConfig, old) == EncoderConfig(
        num_cameras=1, image_shape=(16, 16, 3), conv_channels=(4,), feature_dim=8
    )
    assert config_from_dict(EncoderConfig, {"use_images": False}) == EncoderConfig()


def test_a_pixel_learner_restores_its_encoder_and_refuses_a_state_checkpoint(
    config, image_config, tmp_path
):
    pixels = make_learner("sac", OBS_DIM, image_config)
    pixels.counters["updates"] = 2
    pixels.save(tmp_path / "pixels")
    fresh = make_learner("sac", OBS_DIM, dataclasses.replace(image_config, seed=1))
    fresh.restore(tmp_path / "pixels")
    assert fresh.counters["updates"] == 2
    _assert_trees_equal(fresh.get_variables(["encoder"]), pixels.get_variables(["encoder"]))
    make_learner("sac", OBS_DIM, config).save(tmp_path / "state")
    with pytest.raises(
        ValueError, match=r"trained on the state only, this learner sees 2 camera\(s\) at 16x16"
    ):
        fresh.restore(tmp_path / "state")


def test_no_update_is_owed_before_the_warmup_episodes_are_in(config):
    """The learner counts episodes, whoever played them: the first update waits for N of them."""
    dsrl = dataclasses.replace(config.dsrl, warmup_episodes=3)
    replay = dataclasses.replace(config.replay, min_transitions=1, utd_ratio=2.0)
    config = dataclasses.replace(config, dsrl=dsrl, replay=replay)
    diffusion = DiffusionPolicy(config.diffusion, OBS_DIM).init(jax.random.key(1))
    learner = make_learner("dsrl", OBS_DIM, config, diffusion_params=diffusion)
    rng = np.random.default_rng(0)
    for _ in range(2):
        obs, actions = make_demo(rng)
        noise = rng.normal(size=(4, 4, 7)).astype(np.float32)
        learner.add_episode(obs=obs, actions=actions, noise=noise, reward=1.0, terminal=True)
        assert learner.updates_owed() == 0
    learner.add_episode(obs=obs, actions=actions, noise=noise, reward=0.0, terminal=False)
    assert learner.updates_owed() == 2 * 12  # every transition so far, at the UTD ratio
