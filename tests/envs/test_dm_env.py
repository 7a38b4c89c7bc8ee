"""envs.to_dm_env against dm_env's own conformance tests (`dm_env.test_utils`).

Each class runs the mixin's four tests (reset, step on a fresh env, step after reset, a longer
action sequence through episode ends) with every TimeStep checked against the adapter's specs.
"""

from __future__ import annotations

import dm_env
import gymnasium
import numpy as np
from absl.testing import absltest
from dm_env import test_utils

import envs

EPISODE_STEPS = 10  # the mixin's default action sequence is 20 steps: two episode ends


class StateOnlySimEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    def make_object_under_test(self):
        env = envs.make("franka", "open_drawer", cameras=(), max_episode_steps=EPISODE_STEPS)
        return envs.to_dm_env(env, seed=0)


class CameraSimEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    def make_object_under_test(self):
        env = envs.make(
            "widowx",
            "pick_place",
            cameras=("front",),
            image_size=(32, 32),
            max_episode_steps=EPISODE_STEPS,
        )
        return envs.to_dm_env(env, seed=0)


class _EndsAtStepThree(gymnasium.Env):
    """Terminates (not truncates) on its third step: the sim envs only truncate by default."""

    observation_space = gymnasium.spaces.Box(0.0, 3.0, (1,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.steps += 1
        return np.full(1, self.steps, np.float32), 0.5, self.steps == 3, False, {}


class TerminatingEnvTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    def make_object_under_test(self):
        return envs.to_dm_env(_EndsAtStepThree())

    def test_termination_has_discount_zero(self):
        self.reset_environment()
        steps = [self.step_environment() for _ in range(3)]
        mid, last = dm_env.StepType.MID, dm_env.StepType.LAST
        self.assertEqual([s.step_type for s in steps], [mid, mid, last])
        self.assertEqual([s.discount for s in steps], [np.float32(1.0)] * 2 + [np.float32(0.0)])
        self.assertEqual(steps[-1].reward, np.float32(0.5))
