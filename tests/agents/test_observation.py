"""The flat observation layout shared by collection, pretraining and the actors."""

from __future__ import annotations

import numpy as np
import pytest

import agents
from agents.observation import make_obs, stack_cameras


def test_make_obs_puts_proprio_first_then_the_sim_state():
    proprio, state = np.ones((4, 2)), np.zeros((4, 3))
    obs = make_obs(proprio, state)
    assert obs.shape == (4, 5) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:, :2], 1.0)
    np.testing.assert_array_equal(obs[:, 2:], 0.0)


def test_make_obs_without_a_sim_state_is_the_proprio_alone():
    proprio = np.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(make_obs(proprio), proprio)
    np.testing.assert_array_equal(make_obs(proprio, np.zeros((4, 0))), proprio)
    assert agents.make_obs is make_obs  # the package re-exports the one definition


def test_stack_cameras_orders_the_cameras_as_the_spec_names_them():
    front = np.full((5, 4, 6, 3), 1, np.uint8)
    wrist = np.full((5, 4, 6, 3), 2, np.uint8)
    stacked = stack_cameras({"wrist": wrist, "front": front, "side": front}, ["front", "wrist"])
    assert stacked.shape == (5, 2, 4, 6, 3) and stacked.dtype == np.uint8
    np.testing.assert_array_equal(stacked[:, 0], front)
    np.testing.assert_array_equal(stacked[:, 1], wrist)
    one = stack_cameras({"front": front[0], "wrist": wrist[0]}, ["wrist", "front"])
    assert one.shape == (2, 4, 6, 3) and one[0, 0, 0, 0] == 2  # a single observation
    with pytest.raises(ValueError, match=r"no images for cameras \['wrist'\]"):
        stack_cameras({"front": front}, ["front", "wrist"])
    with pytest.raises(ValueError, match="one shape"):
        stack_cameras({"front": front, "wrist": wrist[:, :2]}, ["front", "wrist"])
