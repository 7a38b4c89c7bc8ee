"""The real-robot path end to end, as on a robot host: a pixel policy pretrained in the sim twin
runs `rrl train <robot>_open_drawer_dsrl_pixels env.backend=real` through a real local Ray,
against franky-sim (the Franka protocol on 127.0.0.1) or the Interbotix SDK fake, with RealSense
recordings as the front and wrist cameras and RoboReward served by a local vLLM-shaped server.
Every episode is stored and scored; a state checkpoint is refused before anything moves."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from configs import get_config
from configs.overrides import apply_overrides
from experiments.rundir import RunDir
from experiments.training.base_policy import ensure_pretrained, pretrained_dir
from reward_clients.testing import FakeVLLM
from tests.fixtures.camera_recordings import record_colour
from tests.fixtures.interbotix_fake import write_import_shims
from tests.fixtures.train_process import REPO, clean_env

# The named pixel configs, shrunk so that pretraining and the learner compile in seconds.
TINY = [
    "env.image_size=16,16", "env.max_episode_steps=8",
    "agent.diffusion.hidden_dims=32,32", "agent.diffusion.time_embed_dim=8",
    "agent.diffusion.num_train_steps=5", "agent.diffusion.num_sample_steps=3",
    "agent.diffusion.batch_size=32", "agent.diffusion.pretrain_steps=20",
    "agent.diffusion.encoder.conv_channels=4,8", "agent.diffusion.encoder.feature_dim=8",
    "agent.sac.hidden_dims=32,32", "agent.sac.batch_size=32", "agent.replay.min_transitions=8",
    "pretrain.demo_episodes=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """Front and wrist RealSense recordings (two devices) of 3 s each, played in a loop."""
    folder = tmp_path_factory.mktemp("recordings")
    return {
        name: record_colour(folder / f"{name}.db3", serial, frames=45, fps=15, width=64, height=48)
        for name, serial in (("front", "111"), ("wrist", "222"))
    }


def _pretrained(config_name: str, runs_dir, *overrides: str):
    config = apply_overrides(get_config(config_name), [*TINY, f"run.runs_dir={runs_dir}", *overrides])
    ensure_pretrained(config)
    return pretrained_dir(config)


def _train_on_the_real_backend(config_name, runs_dir, tmp_path, recordings, checkpoint, *overrides):
    """`rrl train` as a robot host runs it; returns (exit code, output, run directory)."""
    run = tmp_path / "run"
    shims = tmp_path / "sdk"
    write_import_shims(shims)  # ignored by the Franka; the WidowX driver imports the fake SDK
    env = {**clean_env(), "PYTHONPATH": os.pathsep.join([str(shims), str(REPO)])}
    cameras = ",".join(f"{name}={path}" for name, path in recordings.items())
    with FakeVLLM(default_text="The drawer is partly open.\nANSWER: 4") as server:
        command = [
            sys.executable, "-m", "experiments", "train", config_name, *TINY, *overrides,
            "env.backend=real", f"env.real_cameras={cameras}", "env.camera_resolution=64,48",
            "env.camera_fps=15", "env.loop_recordings=true", "env.scene_reset=none",
            f"pretrain.checkpoint={checkpoint}", "reward.name=roboreward",
            f"reward.base_url={server.base_url}", "run.episodes=2", "run.env_actors=1", "run.max_learner_lag=0",
            f"run.runs_dir={runs_dir}", "--run-dir", str(run),
        ]  # fmt: skip
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        requests = len(server.requests)
    return done.returncode, done.stdout + done.stderr, RunDir(run), requests


def _assert_both_episodes_stored_and_scored(code, output, run, requests):
    assert code == 0, output[-4000:]
    episodes = run.episode_ids()
    assert len(episodes) == 2, output[-4000:]
    scored = run.scored()
    assert sorted(scored) == sorted(episodes) and {row["score"] for row in scored.values()} == {4}
    assert requests >= 2
    for episode_id in episodes:  # the learner's per-step images from both real cameras
        assert (run.episodes_dir / episode_id / "policy_images.npz").is_file()


def test_franka_pixel_policy_on_franky_sim_with_recorded_cameras(runs_dir, tmp_path, recordings):
    pytest.importorskip("franky")
    pytest.importorskip("franky_sim")
    from tests.fixtures.robot_franky_sim import franky_sim

    config = "franka_open_drawer_dsrl_pixels"
    checkpoint = _pretrained(config, runs_dir)
    with franky_sim() as sim:
        result = _train_on_the_real_backend(config, runs_dir, tmp_path, recordings, checkpoint,
                                            f"env.robot_ip={sim.hostname}")
    _assert_both_episodes_stored_and_scored(*result)


def test_widowx_pixel_policy_on_the_sdk_fake_with_recorded_cameras(runs_dir, tmp_path, recordings):
    config = "widowx_open_drawer_dsrl_pixels"
    checkpoint = _pretrained(config, runs_dir)
    result = _train_on_the_real_backend(config, runs_dir, tmp_path, recordings, checkpoint)
    _assert_both_episodes_stored_and_scored(*result)


def test_a_state_checkpoint_is_refused_before_anything_moves(runs_dir, tmp_path, recordings):
    config = "franka_open_drawer_dsrl_pixels"
    state = _pretrained(config, runs_dir, "env.cameras=", "env.privileged_state=true")
    # No robot is reachable at all: a refusal must come before any connection is tried.
    code, output, run, requests = _train_on_the_real_backend(
        config, runs_dir, tmp_path, recordings, state, "env.robot_ip=127.0.0.1")
    assert code == 2 and "does not fit this env" in output, output[-4000:]
    assert "front" in output and "privileged" in output
    assert requests == 0 and not run.root.exists()
