"""Pixel policies: pretraining on images + proprio, checkpoints that know what they see, and
refusals before anything moves."""

from __future__ import annotations

import pytest
from ray.exceptions import RayActorError

import experiments.training.loop as loop_module
import experiments.training.train as train_module
from agents.checkpoint import read_meta
from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from envs.observation_spec import ObservationSpec, spec_of_config
from experiments.rundir import RunDir
from experiments.training.base_policy import ensure_pretrained, load_demos, pretrained_dir
from experiments.training.evaluate import main as evaluate_main
from experiments.training.loop import EnvActorError, TrainingRun, error_message

PIXELS = ["env.cameras=front,wrist", "env.image_size=16,16", "env.privileged_state=false"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """(state config, pixel config), each with a tiny base policy pretrained into tmp."""
    runs = tmp_path_factory.mktemp("runs")
    state = apply_overrides(get_config("debug"), [f"run.runs_dir={runs}"])
    pixels = apply_overrides(state, PIXELS)
    for config in (state, pixels):
        ensure_pretrained(config)
    return state, pixels


def test_pixel_pretraining_sees_images_and_records_its_spec(pretrained):
    state, pixels = pretrained
    assert pretrained_dir(state) != pretrained_dir(pixels)  # the spec is part of the hash
    spec = spec_of_config(pixels.env)
    meta = read_meta(pretrained_dir(pixels) / "diffusion")
    assert ObservationSpec.from_dict(meta["observation"]) == spec and meta["obs_dim"] == spec.state_size
    demos = load_demos(pretrained_dir(pixels) / "demos", spec)
    obs, actions, images = demos[0]
    assert obs.shape == (len(actions) + 1, spec.state_size)
    assert images.shape == (len(actions) + 1, 2, 16, 16, 3) and images.dtype.name == "uint8"
    # The state demos cannot feed a pixel policy: they kept no policy images.
    with pytest.raises(ValueError, match="no policy images"):
        load_demos(pretrained_dir(state) / "demos", spec)


def _refused_before_ray(monkeypatch):
    def no_ray(*args, **kwargs):
        raise AssertionError("Ray must not start for a refused checkpoint")

    monkeypatch.setattr(train_module, "init_ray", no_ray)


def test_train_refuses_a_checkpoint_of_another_spec_before_ray_starts(pretrained, tmp_path, monkeypatch, capsys):
    state, pixels = pretrained
    _refused_before_ray(monkeypatch)
    code = train_module.main([
        "debug", *PIXELS, f"run.runs_dir={tmp_path}", f"pretrain.checkpoint={pretrained_dir(state)}",
        "--run-dir", str(tmp_path / "run"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "does not fit this env" in err
    assert spec_of_config(state.env).describe() in err and spec_of_config(pixels.env).describe() in err
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_a_checkpoint_of_another_spec(pretrained, tmp_path, capsys):
    state, pixels = pretrained
    mixed = apply_overrides(pixels, [f"pretrain.checkpoint={pretrained_dir(state)}"])
    run = RunDir(tmp_path / "run").create()
    run.write_config(config_to_dict(mixed))
    assert evaluate_main([str(run.root), "--episodes", "1", "--base"]) == 2
    err = capsys.readouterr().err
    assert spec_of_config(state.env).describe() in err and spec_of_config(pixels.env).describe() in err


def test_a_real_arm_without_a_base_policy_is_refused_with_what_to_do(tmp_path, monkeypatch, capsys):
    _refused_before_ray(monkeypatch)
    code = train_module.main([
        "franka_open_drawer_dsrl_pixels", "env.backend=real", "env.real_cameras=front=a.db3,wrist=b.db3",
        "run.env_actors=1", f"run.runs_dir={tmp_path}", "--run-dir", str(tmp_path / "run"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "no pretrain.checkpoint" in err and "rrl pretrain" in err and "record-demos" in err


class _DyingActor:
    @classmethod
    def remote(cls, *args):
        return cls()


def test_env_actors_that_keep_failing_stop_the_run_and_count_no_episode(pretrained, tmp_path, monkeypatch):
    _, pixels = pretrained
    run = RunDir(tmp_path / "run").create()
    training = TrainingRun(pixels, run)
    training._env_cls, training.env_actors = _DyingActor, [_DyingActor()]

    def failed_episode(future):
        raise RayActorError()

    monkeypatch.setattr(loop_module.ray, "get", failed_episode)
    for attempt in range(loop_module.MAX_ENV_ACTOR_FAILURES):
        training.collected += 1  # as _launch_episodes counts a launched episode
        training.episode_futures[f"episode-{attempt}"] = 0
        if attempt + 1 < loop_module.MAX_ENV_ACTOR_FAILURES:
            training._on_episode(f"episode-{attempt}")
        else:
            with pytest.raises(EnvActorError, match="failed 3 times in a row"):
                training._on_episode(f"episode-{attempt}")
        assert training.collected == 0
    training.tensorboard.close()


def test_the_error_message_is_the_cause_not_rays_wrapper():
    class Wrapped(Exception):
        cause = ValueError("the policy expects 21 numbers")

    assert error_message(Wrapped("Traceback ...")) == "ValueError: the policy expects 21 numbers"
    assert error_message(RuntimeError("ray: actor died\nTraceback\nValueError: bad spec")) == "ValueError: bad spec"
