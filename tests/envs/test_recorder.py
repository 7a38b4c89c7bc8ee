"""Episode recording, the on-disk format, video encoding and the dm_env adapter."""

import json

import dm_env
import numpy as np
import pytest

import envs
from envs.sim.experts import make_expert
from envs.video import decode_mp4, encode_mp4, subsample_indices


@pytest.fixture(scope="module")
def recorded_episode():
    env = envs.make("widowx", "pick_place", cameras=("front",), image_size=(64, 64))
    recorder = envs.EpisodeRecorder(env, camera="front", fps=5)
    expert = make_expert(env)
    obs, _ = recorder.reset(seed=0)
    expert.reset()
    done = False
    while not done:
        obs, _, terminated, truncated, info = recorder.step(expert.act(obs))
        done = terminated or truncated
    return recorder.last_episode, obs, info


def test_recorder_keeps_the_reward_camera_at_the_given_rate(recorded_episode):
    episode, last_obs, info = recorded_episode
    steps = 80  # widowx pick_place default at 10 Hz
    assert episode.num_steps == steps
    assert len(episode.frames) == steps // 2 + 1  # 5 fps of 10 Hz, plus the first observation
    assert np.array_equal(episode.frames[-1], last_obs["images"]["front"])  # final state kept
    assert episode.actions.shape == (steps, 7)
    assert episode.proprio.shape == (steps + 1, 14) and episode.states.shape == (steps + 1, 16)
    assert episode.oracle_score == info["progress_score"] == 5 and episode.is_success
    assert episode.robot == "widowx" and episode.task_name == "pick_place"
    assert episode.task == info["task"] and episode.fps == 5 and episode.seed == 0
    assert episode.end_reason == "time_limit" and episode.ended_at >= episode.started_at
    assert len(episode.infos) == steps and "progress_score" in episode.infos[0]


def test_recorder_renders_the_reward_camera_when_not_observed():
    env = envs.make("franka", "open_drawer", cameras=(), max_episode_steps=5)
    recorder = envs.EpisodeRecorder(env, camera="wrist", fps=10)
    recorder.reset(seed=0)
    for _ in range(5):
        recorder.step(np.zeros(7, np.float32))
    assert recorder.last_episode.frames.shape == (6, 128, 128, 3)


def test_recorder_rejects_a_frame_rate_above_the_control_rate():
    env = envs.make("widowx", "pick_place", cameras=())
    with pytest.raises(ValueError, match="fps must be in"):
        envs.EpisodeRecorder(env, fps=30)


def test_episode_save_load_round_trip(recorded_episode, tmp_path):
    episode, _, _ = recorded_episode
    episode.extra["noise"] = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = episode.save(tmp_path / episode.episode_id)
    assert sorted(p.name for p in path.iterdir()) == ["episode.npz", "meta.json", "video.mp4"]
    loaded = envs.Episode.load(path)
    for name in (
        "episode_id",
        "task",
        "fps",
        "robot",
        "task_name",
        "oracle_score",
        "is_success",
        "seed",
        "end_reason",
        "started_at",
        "ended_at",
        "control_hz",
        "infos",
    ):
        assert getattr(loaded, name) == getattr(episode, name), name
    for name in ("actions", "proprio", "states"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(episode, name))
    np.testing.assert_array_equal(loaded.extra["noise"], episode.extra["noise"])
    assert loaded.frames.shape == episode.frames.shape
    # H.264 is lossy: the decoded video is close to, not equal to, the recorded frames.
    error = np.abs(loaded.frames.astype(int) - episode.frames.astype(int)).mean()
    assert error < 6.0
    meta = json.loads((path / "meta.json").read_text())
    assert meta["num_frames"] == len(episode.frames)
    with pytest.raises(FileExistsError):
        episode.save(path)


def test_episode_load_names_missing_files(tmp_path):
    (tmp_path / "ep").mkdir()
    (tmp_path / "ep" / "meta.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="missing video.mp4, episode.npz"):
        envs.Episode.load(tmp_path / "ep")


def test_episode_validates_its_fields():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="episode_id"):
        envs.Episode("../escape", "task", frames, 5)
    with pytest.raises(ValueError, match="uint8"):
        envs.Episode("ok", "task", frames.astype(np.float32), 5)
    with pytest.raises(ValueError, match="oracle_score"):
        envs.Episode("ok", "task", frames, 5, oracle_score=7)


def test_video_encoding_is_h264_deterministic_and_resizable():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 33, 47, 3), dtype=np.uint8)  # odd sizes are rounded up
    data = encode_mp4(frames, fps=2)
    assert data == encode_mp4(frames, fps=2)
    decoded, fps = decode_mp4(data)
    assert decoded.shape == (6, 34, 48, 3) and fps == pytest.approx(2)
    small, _ = decode_mp4(encode_mp4(frames, fps=2, size=(16, 20)))
    assert small.shape == (6, 16, 20, 3)
    with pytest.raises(ValueError, match="empty"):
        encode_mp4(frames[:0], fps=2)


def test_repeated_encodes_of_a_short_decoded_clip_are_byte_identical():
    # A re-encoded 4-frame clip is what reward clients send and what their cache keys on.
    rng = np.random.default_rng(3)
    smooth = np.clip(rng.integers(60, 200, (1, 32, 32, 3)) + np.arange(4)[:, None, None, None] * 4, 0, 255)
    clip, _ = decode_mp4(encode_mp4(smooth.astype(np.uint8), fps=2))
    assert len({encode_mp4(clip, fps=2.0, size=(32, 32)) for _ in range(150)}) == 1


def test_subsample_always_keeps_the_last_frame():
    np.testing.assert_array_equal(subsample_indices(5, 10), np.arange(5))
    picked = subsample_indices(41, 8)
    assert len(picked) == 8 and picked[0] == 0 and picked[-1] == 40
    assert np.all(np.diff(picked) > 0)


def test_dm_env_adapter_step_types_and_specs():
    env = envs.to_dm_env(
        envs.make(
            "widowx", "open_drawer", cameras=("front",), image_size=(32, 32), max_episode_steps=3
        ),
        seed=0,
    )
    spec = env.observation_spec()
    assert spec["images"]["front"].shape == (32, 32, 3) and spec["proprio"].shape == (14,)
    assert env.action_spec().shape == (7,)
    first = env.reset()
    assert first.step_type == dm_env.StepType.FIRST
    spec["proprio"].validate(first.observation["proprio"])
    types = [env.step(np.zeros(7, np.float32)) for _ in range(3)]
    assert [t.step_type for t in types] == [
        dm_env.StepType.MID,
        dm_env.StepType.MID,
        dm_env.StepType.LAST,
    ]
    assert types[-1].discount == 1.0  # a time limit is not a terminal state
    assert env.step(np.zeros(7, np.float32)).step_type == dm_env.StepType.FIRST
