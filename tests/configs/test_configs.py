"""Named configs and command-line overrides: bad keys and values are refused up front."""

import dataclasses

import pytest

import configs
from configs.overrides import apply_overrides, config_from_json, config_to_dict, valid_keys


def test_registry_has_the_paper_configs_and_baselines():
    for name in ("widowx_pick_place_dsrl", "widowx_open_drawer_dsrl", "franka_pick_place_dsrl",
                 "franka_open_drawer_dsrl", "widowx_pick_place_dsrl_na", "widowx_pick_place_sac",
                 "widowx_pick_place_bc", "debug"):
        assert configs.get_config(name).name == name
    assert configs.get_config("franka_open_drawer_dsrl").env.robot == "franka"
    assert configs.get_config("widowx_pick_place_sac").agent_kind == "sac"


def test_named_configs_use_the_agent_kind_in_their_name():
    for name in configs.names():
        config = configs.get_config(name)
        if name != "debug":
            assert name.removesuffix("_ref").removesuffix("_pixels").endswith(f"_{config.agent_kind}"), name


@pytest.mark.parametrize("name", ["widowx_pick_place_multi_dsrl", "franka_pick_place_multi_dsrl_pixels",
                                  "widowx_pick_place_multi_dsrl_na"])
def test_the_steering_benchmark_frees_the_noise_from_the_mode(name):
    # Its base policy's mode often picks the wrong cloth; the other tasks hold the noise near it.
    dsrl = configs.get_config(name).agent.dsrl
    assert (dsrl.noise_scale, dsrl.noise_prior_weight) == (1.5, 0.0)
    held = configs.get_config(name.replace("_multi", "")).agent.dsrl
    assert (held.noise_scale, held.noise_prior_weight) == (1.0, 0.2)


@pytest.mark.parametrize("robot", ["widowx", "franka"])
@pytest.mark.parametrize("task", ["pick_place", "open_drawer"])
def test_pixel_configs_see_front_and_wrist_without_privileged_state(robot, task):
    config = configs.get_config(f"{robot}_{task}_dsrl_pixels")
    assert config.env.cameras == ("front", "wrist") and not config.env.privileged_state
    encoder = config.agent.diffusion.encoder
    assert encoder.num_cameras == 2 and encoder.image_shape == (*config.env.image_size, 3)
    # The state config stays the fast sim variant.
    assert configs.get_config(f"{robot}_{task}_dsrl").env.privileged_state


@pytest.mark.parametrize("task", ["pick_place", "pick_place_multi", "open_drawer"])
def test_the_dsrl_na_pixel_config_is_the_dsrl_one_with_noise_aliasing(task):
    dsrl = configs.get_config(f"franka_{task}_dsrl_pixels")
    dsrl_na = configs.get_config(f"franka_{task}_dsrl_na_pixels")
    assert dsrl_na.agent_kind == "dsrl_na" and dsrl_na.env == dsrl.env
    assert dataclasses.replace(dsrl_na, name=dsrl.name, agent_kind="dsrl") == dsrl


def test_the_encoder_follows_env_cameras_and_image_size_from_the_command_line():
    config = apply_overrides(configs.get_config("widowx_open_drawer_dsrl"),
                             ["env.image_size=128,128", "env.cameras=front,wrist"])
    assert config.agent.diffusion.encoder.num_cameras == 2
    assert config.agent.diffusion.encoder.image_shape == (128, 128, 3)
    state = apply_overrides(configs.get_config("widowx_open_drawer_dsrl_pixels"), ["env.cameras="])
    assert state.agent.diffusion.encoder.num_cameras == 0
    # Overriding the CNN's own settings leaves its input shape following the env.
    small = apply_overrides(configs.get_config("widowx_open_drawer_dsrl_pixels"),
                            ["agent.diffusion.encoder.conv_channels=4,8", "env.image_size=16,16"])
    assert small.agent.diffusion.encoder.image_shape == (16, 16, 3)
    assert small.agent.diffusion.encoder.conv_channels == (4, 8)
    with pytest.raises(ValueError, match="encoder sees 1 camera"):
        apply_overrides(configs.get_config("widowx_open_drawer_dsrl_pixels"),
                        ["agent.diffusion.encoder.num_cameras=1"])


def test_overrides_are_checked_once_after_all_are_applied():
    """The README's order: the backend before the cameras it needs."""
    config = apply_overrides(configs.get_config("franka_open_drawer_dsrl_pixels"), [
        "env.backend=real", "env.real_cameras=front=a.db3,wrist=b.db3", "env.robot_ip=127.0.0.1",
        "run.env_actors=1",
    ])  # fmt: skip
    assert config.env.backend == "real" and config.env.real_cameras == ("front=a.db3", "wrist=b.db3")


def test_one_real_arm_is_not_driven_by_several_env_actors():
    real = ["env.backend=real", "env.real_cameras=front=a.db3,wrist=b.db3", "env.robot_ip=127.0.0.1"]
    with pytest.raises(ValueError, match="set run.env_actors=1"):
        apply_overrides(configs.get_config("franka_open_drawer_dsrl_pixels"), real)
    # One robot per host, each host offering one unit of the resource: several actors are fine.
    config = apply_overrides(configs.get_config("franka_open_drawer_dsrl_pixels"),
                             [*real, "env.robot_resource=franka", "run.env_actors=2"])
    assert config.run.env_actors == 2


def test_real_camera_stream_settings_reach_the_env():
    config = apply_overrides(configs.get_config("widowx_open_drawer_dsrl_pixels"), [
        "env.backend=real", "env.real_cameras=front=a.db3,wrist=b.db3", "run.env_actors=1",
        "env.camera_resolution=424,240", "env.camera_fps=15", "env.loop_recordings=true",
    ])  # fmt: skip
    kwargs = config.env.make_kwargs()
    assert kwargs["camera_resolution"] == (424, 240) and kwargs["camera_fps"] == 15
    assert kwargs["camera_options"] == {"loop": True}
    with pytest.raises(ValueError, match="camera_resolution must be"):
        apply_overrides(config, ["env.camera_resolution=0,240"])


def test_a_run_config_saved_under_the_old_kind_name_loads_as_dsrl():
    """config.json of runs made before the rename says "dsrl_sac"; it is "dsrl" now."""
    config = configs.get_config("widowx_pick_place_dsrl")
    old = {**config_to_dict(config), "agent_kind": "dsrl_sac"}
    assert config_from_json(old) == config and config_from_json(old).agent_kind == "dsrl"
    with pytest.raises(ValueError, match="agent_kind must be one of"):
        config_from_json({**config_to_dict(config), "agent_kind": "ppo"})


def test_unknown_config_name_suggests_the_closest():
    with pytest.raises(ValueError, match="did you mean widowx_pick_place_dsrl"):
        configs.get_config("widowx_pick_place_dsr")


def test_overrides_parse_by_field_type():
    config = apply_overrides(configs.get_config("widowx_pick_place_dsrl"), [
        "reward.name=roboreward", "reward.base_url=http://127.0.0.1:8000/v1", "reward.max_frames=16",
        "run.episodes=200", "agent.sac.discount=0.98", "env.cameras=front,wrist",
        "agent.replay.bootstrap_time_limit=false", "reward.resolution=256,256",
    ])
    assert config.reward.name == "roboreward"
    assert config.reward.settings == {"base_url": "http://127.0.0.1:8000/v1", "max_frames": 16,
                                      "resolution": (256, 256)}
    assert config.run.episodes == 200 and config.agent.sac.discount == 0.98
    assert config.env.cameras == ("front", "wrist")
    assert config.agent.replay.bootstrap_time_limit is False
    assert config_from_json(config_to_dict(config)) == config


@pytest.mark.parametrize(("override", "message"), [
    ("run.episode=5", "unknown config key 'run.episode' \\(did you mean run.episodes\\?\\); valid keys:"),
    ("run.episodes=many", "run.episodes='many'"),
    ("run.episodes=0", "episodes must be >= 1"),
    ("env.robot=ur5", "robot must be one of \\['franka', 'widowx'\\]"),
    ("reward.base_url=http://127.0.0.1:1/v1", "the 'oracle' reward client has no setting 'base_url'"),
    ("agent.sac.discount=1.5", "discount must be in \\[0, 1\\]"),
    ("agent.replay.bootstrap_time_limit=maybe", "expected true or false"),
    ("episodes", "must look like key.path=value"),
    ("agent=3", "unknown config key 'agent'"),
])
def test_bad_overrides_are_rejected_with_what_is_allowed(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(configs.get_config("widowx_pick_place_dsrl"), [override])


def test_reward_settings_are_checked_against_the_chosen_client():
    config = configs.get_config("widowx_pick_place_dsrl")
    with pytest.raises(ValueError, match="fps"):
        apply_overrides(config, ["reward.name=roboreward", "reward.fps=-1"])
    # The client is chosen first, whatever the order on the command line.
    ok = apply_overrides(config, ["reward.target_mae=0.9", "reward.name=noisy_oracle"])
    assert ok.reward.settings == {"target_mae": 0.9}
    assert "reward.target_mae" in valid_keys(ok) and "run.episodes" in valid_keys(ok)


def test_configs_are_frozen():
    config = configs.get_config("debug")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.run.episodes = 3  # type: ignore[misc]


def test_mapping_settings_take_json():
    config = apply_overrides(configs.get_config("widowx_pick_place_dsrl"),
                             ["reward.name=roboreward", 'reward.extra_body={"mm_processor_kwargs": {"fps": 2}}'])
    assert config.reward.settings["extra_body"] == {"mm_processor_kwargs": {"fps": 2}}
    with pytest.raises(ValueError, match="extra_body"):
        apply_overrides(config, ["reward.extra_body=[1, 2]"])


def test_train_refuses_a_terminal_human_reward_before_starting(tmp_path, capsys):
    from experiments.training.train import main as train_main

    code = train_main(["debug", "reward.name=human", f"run.runs_dir={tmp_path}"])
    assert code == 2
    assert "reward.web=true" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before a run directory was made
