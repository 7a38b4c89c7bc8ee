"""The flat observation layout shared by collection, pretraining and the actors."""

from __future__ import annotations

import numpy as np

import agents
from agents.observation import make_obs


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
