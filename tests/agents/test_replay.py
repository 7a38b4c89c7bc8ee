"""Episode -> decision-level transitions, and the replay buffer (images stored once, FIFO eviction)."""

from __future__ import annotations

import numpy as np
import pytest

from agents.replay import FrameSpec, ReplayBuffer, episode_to_transitions, pad_chunks

IMAGES = FrameSpec("images", (2, 8, 8, 3), "uint8")  # two 8x8 cameras


def _episode(n: int, obs_dim: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n + 1, obs_dim)).astype(np.float32)
    actions = rng.uniform(-1, 1, size=(n, 7)).astype(np.float32)
    images = rng.integers(0, 256, size=(n + 1, 2, 8, 8, 3), dtype=np.uint8)
    return obs, actions, images


def test_chunk_level_transitions_put_the_reward_only_on_the_last_one():
    obs, actions, _ = _episode(10)
    tr = episode_to_transitions(obs, actions, 0.75, chunk_len=4, terminal=True)
    assert len(tr) == 3  # decisions at steps 0, 4, 8
    np.testing.assert_array_equal(tr.reward, [0.0, 0.0, 0.75])
    np.testing.assert_array_equal(tr.discount, [1.0, 1.0, 0.0])  # success: no bootstrap
    np.testing.assert_array_equal(tr.obs, obs[[0, 4, 8]])
    np.testing.assert_array_equal(tr.next_obs, obs[[4, 8, 10]])
    assert tr.episode_return == 0.75
    # The executed chunks, the partial last one padded by repeating the final action.
    np.testing.assert_array_equal(tr.agent_action[0].reshape(4, 7), actions[0:4])
    last = tr.agent_action[2].reshape(4, 7)
    np.testing.assert_array_equal(last[:2], actions[8:10])
    np.testing.assert_array_equal(last[2:], actions[[9, 9]])


def test_time_limit_ends_are_terminal_unless_bootstrapping_is_asked_for():
    obs, actions, _ = _episode(8)
    timed_out = episode_to_transitions(obs, actions, 0.5, chunk_len=4, terminal=False)
    np.testing.assert_array_equal(timed_out.discount, [1.0, 0.0])
    np.testing.assert_array_equal(timed_out.reward, [0.0, 0.5])
    bootstrapped = episode_to_transitions(
        obs, actions, 0.5, chunk_len=4, terminal=False, bootstrap_time_limit=True
    )
    np.testing.assert_array_equal(bootstrapped.discount, [1.0, 1.0])
    success = episode_to_transitions(
        obs, actions, 1.0, chunk_len=4, terminal=True, bootstrap_time_limit=True
    )
    np.testing.assert_array_equal(success.discount, [1.0, 0.0])


def test_noise_is_the_agent_action_when_given():
    obs, actions, _ = _episode(9)
    noise = np.random.default_rng(1).normal(size=(3, 4, 7)).astype(np.float32)
    tr = episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True, noise=noise)
    np.testing.assert_array_equal(tr.agent_action, noise.reshape(3, 28))
    with pytest.raises(ValueError, match="noise must be"):
        episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True, noise=noise[:2])
    with pytest.raises(ValueError, match="obs"):
        episode_to_transitions(obs[:-1], actions, 1.0, chunk_len=4, terminal=True)


def test_pad_chunks_repeats_the_last_action():
    actions = np.arange(5, dtype=np.float32)[:, None]
    chunks = pad_chunks(actions, np.array([0, 3]), 4)
    np.testing.assert_array_equal(chunks[..., 0], [[0, 1, 2, 3], [3, 4, 4, 4]])


def test_buffer_stores_each_image_once_and_indexes_obs_and_next_obs_into_it():
    buffer = ReplayBuffer(capacity=100, obs_dim=3, action_size=28, frames=IMAGES)
    frames_nbytes = buffer.frames.nbytes
    episodes = [_episode(n, seed=n) for n in (10, 7)]
    for obs, actions, images in episodes:
        buffer.add(
            episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True, images=images)
        )
    assert len(buffer) == 3 + 2 and buffer.num_frames == (3 + 1) + (2 + 1)
    assert buffer.frames.nbytes == frames_nbytes  # no per-transition image copies
    # Consecutive transitions share a frame: next_obs of one is obs of the next, same slot.
    np.testing.assert_array_equal(buffer.next_frame[:2], buffer.obs_frame[1:3])
    np.testing.assert_array_equal(buffer.frames[buffer.obs_frame[:3]], episodes[0][2][[0, 4, 8]])
    np.testing.assert_array_equal(buffer.frames[buffer.next_frame[2]], episodes[0][2][10])
    batch = buffer.sample(np.random.default_rng(0), (2, 16))
    assert (
        batch["obs"]["images"].shape == (2, 16, 2, 8, 8, 3)
        and batch["obs"]["images"].dtype == np.uint8
    )
    assert batch["agent_action"].shape == (2, 16, 28) and batch["reward"].shape == (2, 16)
    # Every sampled (state, image) pair comes from the same step of the same episode.
    lookup = {obs.tobytes(): img for ep in episodes for obs, img in zip(ep[0], ep[2], strict=True)}
    for state, image in zip(
        batch["obs"]["state"].reshape(-1, 3),
        batch["obs"]["images"].reshape(-1, 2, 8, 8, 3),
        strict=True,
    ):
        np.testing.assert_array_equal(lookup[state.tobytes()], image)


def test_buffer_evicts_whole_episodes_first_in_first_out():
    buffer = ReplayBuffer(capacity=6, obs_dim=3, action_size=28, frames=IMAGES, frame_capacity=8)
    returns = [0.1, 0.2, 0.3]
    for i, ret in enumerate(returns):
        obs, actions, images = _episode(9, seed=i)  # 3 transitions, 4 frames each
        buffer.add(
            episode_to_transitions(obs, actions, ret, chunk_len=4, terminal=True, images=images)
        )
    assert len(buffer) == 6 and buffer.num_episodes == 2 and buffer.num_frames == 8
    batch = buffer.sample(np.random.default_rng(0), (200,))
    np.testing.assert_allclose(np.unique(batch["episode_return"]), [0.2, 0.3])
    with pytest.raises(ValueError, match="does not fit"):
        obs, actions, images = _episode(40)
        buffer.add(
            episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True, images=images)
        )


def test_buffer_rejects_wrong_shapes_and_empty_sampling():
    buffer = ReplayBuffer(capacity=10, obs_dim=3, action_size=28)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(np.random.default_rng(0), (4,))
    obs, actions, _ = _episode(8, obs_dim=4)
    with pytest.raises(ValueError, match="expected obs"):
        buffer.add(episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True))


def test_steps_to_end_count_the_decisions_left_in_the_episode():
    obs, actions, _ = _episode(10)
    tr = episode_to_transitions(obs, actions, 0.5, chunk_len=4, terminal=False)
    np.testing.assert_array_equal(tr.steps_to_end, [2, 1, 0])
    buffer = ReplayBuffer(capacity=8, obs_dim=3, action_size=28)
    buffer.add(tr)
    batch = buffer.gather(np.arange(3))
    np.testing.assert_array_equal(batch["steps_to_end"], [2, 1, 0])
    np.testing.assert_array_equal(batch["episode_return"], [0.5, 0.5, 0.5])


def test_buffer_keeps_features_in_place_of_frames_and_reports_its_memory():
    """DSRL on cameras stores C * F float32 features per step: 64 bytes here against 384 of images."""
    features = FrameSpec("features", (16,), "float32")
    assert (features.nbytes, IMAGES.nbytes) == (64, 384)
    with_features = ReplayBuffer(capacity=100, obs_dim=3, action_size=28, frames=features)
    with_images = ReplayBuffer(capacity=100, obs_dim=3, action_size=28, frames=IMAGES)
    state_only = ReplayBuffer(capacity=100, obs_dim=3, action_size=28)
    assert with_features.frames.dtype == np.float32 and with_features.frames.shape == (100, 16)
    assert with_features.nbytes - state_only.nbytes == 100 * (64 + 16)  # frames + two indices
    assert with_images.nbytes - state_only.nbytes == 100 * (384 + 16)
    obs, actions, _ = _episode(10)
    tr = episode_to_transitions(obs, actions, 1.0, chunk_len=4, terminal=True)
    with pytest.raises(ValueError, match=r"expected features float32 \(4, 16\), got None"):
        with_features.add(tr)
    with pytest.raises(ValueError, match="key and dtype"):
        FrameSpec("features", (16,), "uint8")
