"""Recording the demonstrations the base policy is cloned from, and where its checkpoint lives."""

import dataclasses

import pytest

import envs
from configs import get_config
from configs.overrides import apply_overrides
from experiments.training.base_policy import _record_demos, pretrained_dir


def _demo_config(tmp_path, *overrides):
    # The drawer expert opens it within 60 steps when its actions are clean.
    base = get_config("debug")
    return apply_overrides(base, [f"run.runs_dir={tmp_path}", "env.max_episode_steps=60", *overrides])


def _kept(directory):
    return [envs.Episode.load(path, with_video=False) for path in sorted(directory.iterdir())]


def test_successful_only_discards_failed_attempts(tmp_path):
    # At this noise some attempts fail; every kept demo must be a success, and there must be
    # the asked-for number of them.
    config = _demo_config(tmp_path, "pretrain.demo_episodes=3", "pretrain.demo_noise=0.22",
                          "pretrain.successful_only=true")
    _record_demos(config, tmp_path / "demos")
    kept = _kept(tmp_path / "demos")
    assert len(kept) == 3 and all(episode.is_success for episode in kept)
    seeds = [episode.seed for episode in kept]
    assert seeds == sorted(seeds) and seeds[-1] > 1002  # the failed attempts' seeds were skipped


def test_all_attempts_are_kept_by_default(tmp_path):
    config = _demo_config(tmp_path, "pretrain.demo_episodes=3", "pretrain.demo_noise=0.22")
    _record_demos(config, tmp_path / "demos")
    kept = _kept(tmp_path / "demos")
    assert [episode.seed for episode in kept] == [1000, 1001, 1002]


def test_a_hopeless_noise_with_successful_only_fails_with_advice(tmp_path):
    config = _demo_config(tmp_path, "pretrain.demo_episodes=1", "pretrain.demo_noise=5.0",
                          "pretrain.successful_only=true", "env.max_episode_steps=4")
    with pytest.raises(RuntimeError, match="lower pretrain.demo_noise"):
        _record_demos(config, tmp_path / "demos")


def test_pretrained_dir_depends_on_what_pretraining_sees(tmp_path):
    config = _demo_config(tmp_path)
    same = dataclasses.replace(config, run=dataclasses.replace(config.run, episodes=99))
    other = apply_overrides(config, ["pretrain.successful_only=true"])
    assert pretrained_dir(config) == pretrained_dir(same)
    assert pretrained_dir(config) != pretrained_dir(other)
    # Settings pretraining does not use (the reward camera, the robot's address, the cameras'
    # stream settings) leave the base policy where it is.
    unused = apply_overrides(config, ["env.reward_camera=wrist", "env.robot_ip=127.0.0.1",
                                      "env.camera_fps=15", "env.scene_reset=none"])
    assert pretrained_dir(config) == pretrained_dir(unused)
    assert pretrained_dir(config) != pretrained_dir(apply_overrides(config, ["env.control_hz=5"]))


def test_a_new_observation_layout_gets_a_new_pretrained_dir(tmp_path, monkeypatch):
    import experiments.training.base_policy as pretrain

    config = _demo_config(tmp_path)
    before = pretrained_dir(config)
    monkeypatch.setitem(pretrain.STATE_FIELDS, config.env.task, ("drawer_opening",))
    assert pretrained_dir(config) != before


def test_a_new_expert_version_gets_a_new_pretrained_dir(tmp_path, monkeypatch):
    import experiments.training.base_policy as pretrain

    config = _demo_config(tmp_path)
    before = pretrained_dir(config)
    monkeypatch.setattr(pretrain, "EXPERT_VERSION", pretrain.EXPERT_VERSION + 1)
    assert pretrained_dir(config) != before


def test_a_multi_cloth_scene_is_demonstrated_once_per_cloth(tmp_path):
    config = get_config("widowx_pick_place_multi_dsrl")
    config = apply_overrides(config, [f"run.runs_dir={tmp_path}", "pretrain.demo_episodes=4",
                                      "pretrain.demo_noise=0.0"])
    _record_demos(config, tmp_path / "demos")
    kept = _kept(tmp_path / "demos")
    assert [episode.seed for episode in kept] == [1000, 1000, 1000, 1001]
    # Scene 1000 ends with the object on the red cloth (a success), then on the other two (score 2).
    assert [episode.oracle_score for episode in kept[:3]] == [5, 2, 2]
