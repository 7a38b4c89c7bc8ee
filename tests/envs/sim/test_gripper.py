"""The sim twin's gripper is binary, like the real drivers' grasp/release."""

import numpy as np

import envs


def _opening_after(env, command: float, steps: int = 10) -> float:
    env.reset(seed=0)
    action = np.zeros(7, np.float32)
    action[6] = command
    for _ in range(steps):
        obs, *_ = env.step(action)
    return float(obs["proprio"][7])


def test_gripper_command_is_open_at_or_above_zero_and_closed_below():
    env = envs.make("widowx", "open_drawer", cameras=())
    fully_open = _opening_after(env, 1.0)
    closed = _opening_after(env, -1.0)
    assert fully_open > closed + 0.02
    # Any non-negative command opens fully, any negative one closes fully: no half-open hand.
    assert abs(_opening_after(env, 0.0) - fully_open) < 1e-3
    assert abs(_opening_after(env, 0.3) - fully_open) < 1e-3
    assert abs(_opening_after(env, -0.2) - closed) < 1e-3
    env.close()
