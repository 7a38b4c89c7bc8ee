"""Config values that bound motion or time: finite and in range, refused before anything runs."""

from __future__ import annotations

import dataclasses
import types
import typing

import pytest

from configs import get_config
from configs.experiment import ExperimentConfig
from configs.overrides import apply_overrides
from envs.sim.env import CAMERAS as SIM_CAMERAS

# (key, value): each must be refused with a ValueError that names the key and the value.
BAD_OVERRIDES = [
    ("env.control_hz", "inf"),
    ("env.control_hz", "nan"),
    ("env.video_fps", "nan"),
    ("env.learner_timeout_s", "nan"),
    ("env.learner_timeout_s", "-1"),
    ("env.learner_timeout_s", "inf"),
    ("env.image_size", "-5,-5"),
    ("env.image_size", "0,64"),
    ("env.image_size", "64"),
    ("env.cameras", "front,banana"),
    ("env.cameras", "front,front"),
    ("env.reward_camera", "banana"),
    ("env.real_cameras", "banana=123"),
    ("reward.retry_pending_after_s", "nan"),
    ("reward.retry_pending_after_s", "inf"),
    ("pretrain.demo_noise", "nan"),
    ("agent.replay.utd_ratio", "nan"),
    ("agent.replay.utd_ratio", "inf"),
    ("agent.replay.demo_reward", "nan"),
    ("agent.sac.target_range", "0,inf"),
    ("agent.sac.target_entropy_scale", "nan"),
    ("agent.dsrl.noise_prior_weight", "nan"),
    ("agent.bc.return_threshold", "nan"),
    ("agent.diffusion.learning_rate", "inf"),
    ("run.learner_gpus", "nan"),
]


@pytest.mark.parametrize(("key", "value"), BAD_OVERRIDES)
def test_bad_value_is_refused_naming_the_key_and_the_value(key, value):
    with pytest.raises(ValueError) as error:
        apply_overrides(get_config("debug"), [f"{key}={value}"])
    assert key in str(error.value) and repr(value) in str(error.value)


def test_real_backend_cameras_must_be_among_real_cameras():
    real = ["env.real_cameras=front=123", "env.backend=real", "run.env_actors=1"]
    config = apply_overrides(get_config("debug"), [*real, "env.cameras=front"])
    assert config.env.cameras == ("front",)
    with pytest.raises(ValueError, match=r"env.cameras='wrist'.*\['front'\]"):
        apply_overrides(get_config("debug"), [*real, "env.cameras=wrist"])


def test_good_values_still_pass():
    config = apply_overrides(get_config("debug"), [
        "env.control_hz=20", "env.learner_timeout_s=0", "env.learner_timeout_s=3.5",
        "env.image_size=64,96", "env.cameras=front,wrist", "env.reward_camera=wrist",
    ])  # fmt: skip
    assert config.env.image_size == (64, 96) and config.env.learner_timeout_s == 3.5


def test_config_camera_names_are_the_sim_twins():
    from configs.experiment import CAMERAS

    assert CAMERAS == SIM_CAMERAS


def _float_keys(cls: type, prefix: str = "") -> list[tuple[str, typing.Any]]:
    """(key, hint) of every field holding floats, in `cls` and its nested configs."""
    keys = []
    for field in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[field.name]
        if dataclasses.is_dataclass(hint):
            keys += _float_keys(hint, f"{prefix}{field.name}.")
            continue
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        for option in options:
            if option is float or (
                typing.get_origin(option) is tuple and float in typing.get_args(option)
            ):
                keys.append((prefix + field.name, option))
                break
    return keys


FLOAT_KEYS = _float_keys(ExperimentConfig)


def _all(hint, text: str) -> str:
    """`text` in every position of a value of type `hint`, as the command line spells it."""
    if hint is float:
        return text
    args = typing.get_args(hint)
    return ",".join([text] * (2 if Ellipsis in args else len(args)))


def test_the_float_field_walk_finds_the_fields_named_in_the_issue():
    keys = {key for key, _ in FLOAT_KEYS}
    assert {"env.control_hz", "env.learner_timeout_s", "reward.retry_pending_after_s",
            "pretrain.demo_noise", "agent.replay.utd_ratio", "agent.sac.target_range",
            "agent.diffusion.learning_rate", "run.learner_gpus"} <= keys  # fmt: skip
    assert len(keys) >= 20


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(("key", "hint"), FLOAT_KEYS, ids=[key for key, _ in FLOAT_KEYS])
def test_every_float_field_of_every_config_refuses_non_finite(key, hint, text):
    value = _all(hint, text)
    with pytest.raises(ValueError) as error:
        apply_overrides(get_config("debug"), [f"{key}={value}"])
    assert key in str(error.value)
