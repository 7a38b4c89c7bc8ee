"""`to_dm_env`: exposes a gymnasium env through the dm_env interface (for acme-style code).

Every TimeStep conforms to the adapter's specs (float32 reward and discount), so the adapted envs
pass dm_env's own `dm_env.test_utils.EnvironmentTestMixin` (tests/envs/test_dm_env.py).
"""

from __future__ import annotations

import dm_env
import gymnasium
import numpy as np
from dm_env import specs

__all__ = ["to_dm_env", "DmEnvAdapter"]

_NO_DISCOUNT = np.float32(0.0)
_FULL_DISCOUNT = np.float32(1.0)


def _spec_of(space: gymnasium.Space, name: str):
    if isinstance(space, gymnasium.spaces.Dict):
        return {key: _spec_of(sub, f"{name}/{key}" if name else key) for key, sub in space.items()}
    if isinstance(space, gymnasium.spaces.Box):
        if np.issubdtype(space.dtype, np.integer) or (
            np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
        ):
            return specs.BoundedArray(space.shape, space.dtype, space.low, space.high, name=name)
        return specs.Array(space.shape, space.dtype, name=name)
    raise ValueError(f"to_dm_env: unsupported gymnasium space {space!r} at {name or 'root'}")


class DmEnvAdapter(dm_env.Environment):
    """dm_env view of a gymnasium env: termination gives discount 0, truncation discount 1."""

    def __init__(self, env: gymnasium.Env, seed: int | None = None):
        self.gym_env = env
        self._seed = seed
        self._needs_reset = True

    def reset(self) -> dm_env.TimeStep:
        obs, _ = self.gym_env.reset(seed=self._seed)
        self._seed = None  # seed once; later resets continue the env's random stream
        self._needs_reset = False
        return dm_env.restart(obs)

    def step(self, action) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        obs, reward, terminated, truncated, _ = self.gym_env.step(action)
        reward = np.float32(reward)
        if terminated or truncated:
            self._needs_reset = True
            # dm_env.termination's discount is a Python float (float64 to numpy): not the spec's.
            discount = _NO_DISCOUNT if terminated else _FULL_DISCOUNT
            return dm_env.TimeStep(dm_env.StepType.LAST, reward, discount, obs)
        return dm_env.TimeStep(dm_env.StepType.MID, reward, _FULL_DISCOUNT, obs)

    def observation_spec(self):
        return _spec_of(self.gym_env.observation_space, "")

    def action_spec(self):
        return _spec_of(self.gym_env.action_space, "action")

    def reward_spec(self):
        return specs.Array((), np.float32, name="reward")

    def discount_spec(self):
        return specs.BoundedArray((), np.float32, 0.0, 1.0, name="discount")

    def close(self) -> None:
        self.gym_env.close()


def to_dm_env(env: gymnasium.Env, seed: int | None = None) -> DmEnvAdapter:
    """Wraps `env` as a `dm_env.Environment`; `seed` seeds the first reset."""
    return DmEnvAdapter(env, seed=seed)
