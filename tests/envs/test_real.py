"""envs.make(..., backend="real"): franky-sim or the Interbotix fake, plus a recorded camera."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import envs
from envs.real import RealEnv, operator_prompt, resize_image
from robots.specs import WIDOWX
from tests.fixtures.camera_recordings import record_colour
from tests.fixtures.interbotix_fake import installed_interbotix_fake

FPS = 30
IMAGE = (32, 32)
FAST_WIDOWX = {
    "moving_time_s": 0.02,
    "accel_time_s": 0.01,
    "home_time_s": 0.02,
    "gripper_delay_s": 0.0,
}


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """A 1 s front-camera recording, played in a loop (recording takes as long as it lasts)."""
    path = tmp_path_factory.mktemp("real_env") / "front.db3"
    return record_colour(path, "111", frames=FPS, fps=FPS, width=64, height=48)


def camera_kwargs(front, **options):
    return {
        "cameras": {"front": front},
        "camera_resolution": (64, 48),
        "camera_fps": FPS,
        "camera_options": {
            "warmup_frames": 1,
            "stale_after_s": 0.3,
            "frame_timeout_s": 0.5,
            "max_reconnects": 0,
            "loop": True,
            **options,
        },  # fmt: skip
        "image_size": IMAGE,
    }


@pytest.fixture()
def widowx_env(front):
    resets = []
    with installed_interbotix_fake() as sdk:
        env = envs.make(
            "widowx", "pick_place", backend="real", arm_kwargs=FAST_WIDOWX,
            scene_reset=resets.append, max_episode_steps=5, control_hz=20, seed=3,
            **camera_kwargs(front),
        )  # fmt: skip
        env.sdk, env.resets = sdk, resets
        try:
            yield env
        finally:
            env.close()


def test_same_spaces_and_proprio_layout_as_the_sim_twin(widowx_env):
    sim = envs.make("widowx", "pick_place", cameras=("front",), image_size=IMAGE)
    try:
        assert widowx_env.action_space == sim.action_space
        assert widowx_env.observation_space["images"] == sim.observation_space["images"]
        assert widowx_env.observation_space["proprio"] == sim.observation_space["proprio"]
        sim_obs, _ = sim.reset(seed=0)
        obs, info = widowx_env.reset()
        # At the start pose (near home, gripper down) the TCP quaternion is the sim's at home.
        np.testing.assert_allclose(obs["proprio"][3:7], sim_obs["proprio"][3:7], atol=1e-3)
        np.testing.assert_allclose(obs["proprio"][:3], sim_obs["proprio"][:3], atol=0.04)
        assert obs["proprio"][7] == pytest.approx(WIDOWX.gripper_max)  # opened at reset
        assert info["task"] == "put the sponge on the cloth"
    finally:
        sim.close()


def test_reset_homes_resets_the_scene_and_randomises_the_start(widowx_env):
    starts = []
    for _ in range(2):
        obs, _ = widowx_env.reset()
        starts.append(obs["proprio"][:3])
        assert (
            obs["images"]["front"].shape == (*IMAGE, 3) and obs["images"]["front"].dtype == np.uint8
        )
    assert (
        len(widowx_env.resets) == 2 and widowx_env.sdk.robot.names().count("gripper.release") >= 1
    )
    home = np.array([0.3, 0.0, 0.15])
    assert all(np.all(np.abs(s - home) <= 0.03 + 0.003) for s in starts)
    assert not np.allclose(starts[0], starts[1])


def test_episode_runs_to_the_time_limit_and_is_recorded(widowx_env):
    recorder = envs.EpisodeRecorder(widowx_env, camera="front", fps=10)
    obs, _ = recorder.reset()
    start = obs["proprio"][:3].copy()
    done, steps = False, 0
    while not done:
        obs, reward, terminated, truncated, info = recorder.step(
            np.array([0.5, 0, -0.2, 0, 0, 0, 1], np.float32)
        )
        done, steps = terminated or truncated, steps + 1
    assert steps == 5 and reward == 0.0 and info["end_reason"] == "time_limit"
    np.testing.assert_allclose(obs["proprio"][:3] - start, [5 * 0.025, 0, -5 * 0.01], atol=0.003)
    episode = recorder.last_episode
    assert episode.end_reason == "time_limit" and episode.robot == "widowx"
    assert episode.frames.shape[1:] == (*IMAGE, 3) and episode.actions.shape == (5, 7)
    with pytest.raises(RuntimeError, match="call reset"):
        widowx_env.step(np.zeros(7))


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("ik", "ik_failure"), ("motor", "arm_fault"), ("nan", "invalid_action"), ("estop", "estop")],
)
def test_faults_end_the_episode_cleanly_and_are_marked(widowx_env, fault, reason):
    recorder = envs.EpisodeRecorder(widowx_env, camera="front", fps=10)
    recorder.reset()
    recorder.step(np.zeros(7))
    action = np.array([0, 0, 0.5, 0, 0, 0, 1.0])
    if fault == "ik":
        widowx_env.sdk.robot.fail_next_ik = True
    elif fault == "motor":
        widowx_env.sdk.robot.inject_motor_fault("wrist_angle")
    elif fault == "nan":
        action[0] = np.nan
    else:
        widowx_env.safety.set_estop("test")
    obs, _, terminated, truncated, info = recorder.step(action)
    steps = 2
    if fault == "motor":  # motions are asynchronous: the fault shows when the next one is joined
        assert not truncated
        obs, _, terminated, truncated, info = recorder.step(action)
        steps = 3
    assert (terminated, truncated) == (False, True)
    assert info["end_reason"] == reason and info["fault"]
    assert obs["images"]["front"].shape == (*IMAGE, 3)  # the last good observation
    assert recorder.last_episode.end_reason == reason and recorder.last_episode.num_steps == steps
    if fault == "estop":
        widowx_env.safety.clear_estop()
    widowx_env.reset()  # recovers (motor reboot) and runs again
    widowx_env.step(np.zeros(7))


def test_franka_on_franky_sim_with_a_recorded_camera(front):
    pytest.importorskip("franky")
    pytest.importorskip("franky_sim")
    from tests.fixtures.robot_franky_sim import franky_sim

    with franky_sim() as sim:
        env = envs.make(
            "franka", "open_drawer", backend="real", ip=sim.hostname,
            arm_kwargs={"relative_dynamics_factor": 0.5}, scene_reset="none",
            max_episode_steps=12, start_pose_noise=0.02, **camera_kwargs(front),
        )  # fmt: skip
        try:
            recorder = envs.EpisodeRecorder(env, camera="front", fps=5)
            obs, info = recorder.reset(seed=0)
            start = obs["proprio"][:3].copy()
            assert info["task"] == "open the drawer" and obs["proprio"].shape == (15,)
            for _ in range(2):
                obs, _, _, truncated, info = recorder.step(np.array([0, 0.4, 0, 0, 0, 0, 1.0]))
                assert not truncated and not info["workspace_clipped"]
            # Motions are asynchronous: the first is joined before the second starts, and the
            # observation 1/control_hz after the second command sees it under way.
            moved = obs["proprio"][:3] - start
            assert 0.02 - 0.003 <= moved[1] <= 0.04 + 0.003
            np.testing.assert_allclose(moved[[0, 2]], 0.0, atol=0.003)
            sim.trigger_reflex()  # the robot stops itself: the episode ends, marked
            obs, _, _, truncated, info = recorder.step(np.zeros(7))
            assert truncated and info["end_reason"] == "arm_fault" and "reflex" in info["fault"]
            assert recorder.last_episode.end_reason == "arm_fault"

            recorder.reset(seed=1)  # recovers from the reflex
            recorder.step(np.zeros(7))
            env.rig.cameras["front"].pause_playback()  # the camera stops delivering
            for _ in range(10):  # frames that arrived just before the pause are still new (and a
                # loaded machine may step faster than the camera's staleness limit)
                _, _, _, truncated, info = recorder.step(np.zeros(7))
                if truncated:
                    break
            assert truncated and info["end_reason"] == "camera_lost"
            assert re.match(r"camera front: no (new )?frame", info["fault"])
            assert recorder.last_episode.end_reason == "camera_lost"
        finally:
            env.close()


def test_bad_configuration_is_a_value_error(front):
    with pytest.raises(ValueError, match="not the sim's"):
        RealEnv("widowx", "pick_place", cameras={"top": front})
    with pytest.raises(ValueError, match="needs ip"):
        RealEnv("franka", "pick_place")
    with pytest.raises(ValueError, match="scene_reset"):
        RealEnv("widowx", "pick_place", scene_reset="later")


def test_resize_centre_crops_to_the_target_aspect():
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, :80] = 255  # a band at the left edge that the square crop removes
    image[:, 300:340] = 100  # a band in the centre that stays
    small = resize_image(image, (128, 128))
    assert small.shape == (128, 128, 3) and small.dtype == np.uint8
    assert small[:, 0].max() == 0 and small[:, 64].max() == 100


def test_operator_prompt_waits_for_enter_with_a_timeout():
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as stream:
        os.write(write_fd, b"\n")
        operator_prompt("reset the scene", 1.0, stream=stream)
        with pytest.raises(TimeoutError, match="no answer within"):
            operator_prompt("reset the scene", 0.05, stream=stream)
    os.close(write_fd)
