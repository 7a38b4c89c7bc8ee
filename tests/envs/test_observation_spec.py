"""The observation spec: one record for sim and real, and episodes that keep what the policy saw."""

from __future__ import annotations

import json

import numpy as np
import pytest

import envs
from configs import get_config
from configs.overrides import apply_overrides
from envs.observation_spec import STATE_FIELD_SIZES, ObservationSpec, spec_of_config, spec_of_env
from envs.sim.env import STATE_FIELDS
from tests.fixtures.camera_recordings import record_colour
from tests.fixtures.interbotix_fake import installed_interbotix_fake

IMAGE = (16, 16)


def _sim(config):
    return envs.make(config.env.robot, config.env.task, **config.env.make_kwargs())


@pytest.mark.parametrize("name", ["widowx_open_drawer_dsrl", "franka_pick_place_dsrl_pixels"])
def test_the_config_spec_is_what_the_sim_gives(name):
    config = get_config(name)
    env = _sim(config)
    try:
        spec = spec_of_config(config.env)
        assert spec_of_env(env, config.env.cameras) == spec
        obs, _ = env.reset(seed=0)
        assert ("state" in obs) == spec.privileged_state == config.env.privileged_state
        assert sorted(obs.get("images", {})) == sorted(spec.cameras)
    finally:
        env.close()


def test_state_field_sizes_match_the_sim():
    for task, fields in STATE_FIELDS.items():
        env = envs.make("widowx", task, cameras=())
        assert env.observation_space["state"].shape == (sum(STATE_FIELD_SIZES[f] for f in fields),)
        env.close()


def test_spec_round_trips_through_json_and_says_what_it_sees():
    spec = spec_of_config(get_config("widowx_open_drawer_dsrl_pixels").env)
    again = ObservationSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and not spec.privileged_state
    assert "front+wrist" in spec.describe() and "64x64" in spec.describe()
    state = spec_of_config(get_config("widowx_open_drawer_dsrl").env)
    assert state != spec and "handle_pos" in state.describe() and state.state_size == 21
    with pytest.raises(ValueError, match="unknown keys"):
        ObservationSpec.from_dict({**spec.to_dict(), "colour": 1})


def test_without_privileged_state_the_expert_still_demonstrates():
    config = get_config("widowx_open_drawer_dsrl_pixels")
    recorder = envs.EpisodeRecorder(_sim(config), camera="front", fps=5, policy_cameras=("front", "wrist"))
    from envs.sim.experts import make_expert

    expert = make_expert(recorder, noise=0.0, seed=0)
    obs, _ = recorder.reset(seed=0)
    for _ in range(60):
        obs, _, terminated, truncated, _ = recorder.step(expert.act(obs))
        if terminated or truncated:
            break
    episode = recorder.last_episode
    assert "state" not in obs and episode.states.size == 0 and episode.is_success
    assert episode.policy_images["wrist"].shape == (episode.num_steps + 1, 64, 64, 3)
    recorder.close()


def test_policy_images_are_stored_losslessly_and_old_episodes_still_load(tmp_path):
    rng = np.random.default_rng(0)
    images = {c: rng.integers(0, 255, (4, *IMAGE, 3), dtype=np.uint8) for c in ("front", "wrist")}
    episode = envs.Episode(episode_id="e1", task="t", frames=images["front"][::2], fps=5,
                           actions=np.zeros((3, 7)), proprio=np.zeros((4, 14)), policy_images=images)
    episode.save(tmp_path / "e1")
    loaded = envs.Episode.load(tmp_path / "e1", with_video=False)
    for camera, frames in images.items():
        np.testing.assert_array_equal(loaded.policy_images[camera], frames)
    (tmp_path / "e1" / "policy_images.npz").unlink()  # an episode from before policy images
    assert envs.Episode.load(tmp_path / "e1", with_video=False).policy_images == {}
    with pytest.raises(ValueError, match="policy_images"):
        envs.Episode(episode_id="e2", task="t", frames=images["front"], fps=5,
                     proprio=np.zeros((5, 14)), policy_images=images)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    return {name: record_colour(folder / f"{name}.db3", serial, frames=10, fps=30, width=64, height=48)
            for name, serial in (("front", "111"), ("wrist", "222"))}


def test_sim_and_real_give_the_same_keys_shapes_and_dtypes(recordings):
    cameras = ",".join(f"{name}={path}" for name, path in recordings.items())
    config = apply_overrides(get_config("widowx_pick_place_dsrl_pixels"), [
        "env.image_size=16,16", "env.backend=real", "run.env_actors=1", f"env.real_cameras={cameras}",
        "env.scene_reset=none", "env.max_episode_steps=3", "env.camera_resolution=64,48",
        "env.loop_recordings=true",
    ])  # fmt: skip
    sim_config = apply_overrides(config, ["env.backend=sim", "env.real_cameras="])
    with installed_interbotix_fake():
        real = envs.make("widowx", "pick_place", backend="real",
                         arm_kwargs={"moving_time_s": 0.02, "accel_time_s": 0.01,
                                     "home_time_s": 0.02, "gripper_delay_s": 0.0},
                         **config.env.make_kwargs())
        sim = _sim(sim_config)
        try:
            spec = spec_of_config(config.env)
            assert spec == spec_of_config(sim_config.env) == spec_of_env(real, ("front", "wrist"))
            assert spec_of_env(sim, ("front", "wrist")) == spec
            real_obs, _ = real.reset(seed=0)
            sim_obs, _ = sim.reset(seed=0)
            assert sorted(real_obs) == sorted(sim_obs) == ["images", "proprio"]
            for camera in spec.cameras:
                for obs in (real_obs, sim_obs):
                    assert obs["images"][camera].shape == (16, 16, 3)
                    assert obs["images"][camera].dtype == np.uint8
            assert real_obs["proprio"].shape == sim_obs["proprio"].shape == (spec.state_size,)
            assert real_obs["proprio"].dtype == sim_obs["proprio"].dtype == np.float32
        finally:
            real.close()
            sim.close()
