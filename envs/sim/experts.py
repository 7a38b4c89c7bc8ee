"""Scripted experts for the sim twins: privileged-state state machines with a noise knob.

They produce the BC demonstrations and the reward-dataset episodes. `noise` is the standard
deviation of Gaussian noise added to the translation and rotation parts of each action (in
action units); the gripper command stays clean so noise varies the motion, not the intent.

    expert = make_expert(env, noise=0.1, seed=0)
    obs, info = env.reset(seed=0)
    expert.reset()
    action = expert.act(obs)
"""

from __future__ import annotations

import abc

import numpy as np

from envs.sim.models import CLOTH_THICKNESS, HANDLE_STANDOFF, OBJECT_HALF

__all__ = ["PickPlaceExpert", "OpenDrawerExpert", "make_expert", "EXPERT_VERSION"]

OPEN, CLOSED = 1.0, -1.0
# Part of the pretrained folder's hash (experiments.training.base_policy): bump it when a change here, or
# in the scenes they act in, alters what the experts demonstrate, so that runs record fresh demos.
EXPERT_VERSION = 4


class _Expert(abc.ABC):
    # Fraction of the remaining distance commanded per step: below 1 so the target does not run
    # ahead of a servo that is still catching up.
    GAIN = 0.8
    # Steps a phase with a tolerance lasts at most (None: until the hand is within it).
    PHASE_TIMEOUT: int | None = None

    def __init__(self, env, noise: float = 0.0, seed: int | None = None):
        if noise < 0:
            raise ValueError(f"expert: noise must be >= 0, got {noise}")
        self.env = env.unwrapped
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.max_step = self.env.spec_arm.max_step_translation
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.wait = 0

    def _toward(self, tcp: np.ndarray, goal: np.ndarray, gripper: float) -> np.ndarray:
        delta = self.GAIN * (goal - tcp) / self.max_step
        action = np.zeros(7)
        action[:3] = np.clip(delta, -1.0, 1.0)
        action[6] = gripper
        if self.noise:
            action[:6] += self.rng.normal(0.0, self.noise, size=6) * np.array(
                [1, 1, 1, 0.3, 0.3, 0.3]
            )
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    @abc.abstractmethod
    def act(self, obs: dict) -> np.ndarray:
        """The next action for observation `obs` (uses the privileged `state`)."""

    def _state(self, obs: dict) -> np.ndarray:
        # An env without privileged observations still shows its object state to the expert.
        return np.asarray(obs["state"] if "state" in obs else self.env.hidden_state(), np.float64)

    def _run(self, script, tcp: np.ndarray) -> np.ndarray:
        """Advances through `script` rows (goal, gripper, tolerance or None, wait steps): a row
        with a tolerance ends when the hand is within it or after PHASE_TIMEOUT steps, if set."""
        goal, gripper, tolerance, wait = script[self.phase]
        self.wait += 1
        if tolerance is not None:
            timed_out = self.PHASE_TIMEOUT is not None and self.wait > self.PHASE_TIMEOUT
            if np.linalg.norm(goal - tcp) < tolerance or timed_out:
                self.phase, self.wait = self.phase + 1, 0
        elif self.wait >= wait:
            self.phase, self.wait = self.phase + 1, 0
        self.phase = min(self.phase, len(script) - 1)
        goal, gripper, _, _ = script[self.phase]
        return self._toward(tcp, goal, gripper)


class PickPlaceExpert(_Expert):
    """Above the object, down, grasp, lift, carry over the cloth, lower, release, retreat.

    With several cloths (pick_place_multi) it picks one at random each episode, blind to the
    instruction: task-agnostic demos, as from broad data that does not follow a new instruction.
    """

    LIFT_Z = 0.12
    # A noisy hand seldom lands within the grasp and release tolerances; an operator then closes
    # or opens the gripper when the hand is near enough rather than hovering on. Without this the
    # noisy demos hovered for many steps before each grasp and release, and the cloned policy's
    # zero-noise output hovered too, never grasping or releasing. (The drawer keeps lining up:
    # its fingers must go into a narrow gap behind the handle.)
    PHASE_TIMEOUT = 5

    def __init__(self, env, noise: float = 0.0, seed: int | None = None, cloth: int | None = None):
        self.cloth = cloth  # the cloth to use (index in colour order); None: one at random
        super().__init__(env, noise=noise, seed=seed)

    def reset(self) -> None:
        super().reset()
        cloths = self.env.num_cloths
        if self.cloth is not None:
            if not 0 <= self.cloth < cloths:
                raise ValueError(f"expert: cloth must be in [0, {cloths}), got {self.cloth}")
            self.cloth_index = self.cloth
        else:  # drawn only with a choice to make, so single-cloth demos keep their noise sequence
            self.cloth_index = int(self.rng.integers(cloths)) if cloths > 1 else 0

    def act(self, obs: dict) -> np.ndarray:
        tcp = obs["proprio"][:3].astype(np.float64)
        state = self._state(obs)
        k = 7 + 3 * self.cloth_index
        obj, cloth = state[:3], state[k : k + 3]
        place_z = 2 * CLOTH_THICKNESS + OBJECT_HALF + 0.01
        # (goal, gripper, done-when-within metres or None for timed phases, steps to wait)
        script = (
            (np.array([obj[0], obj[1], obj[2] + 0.08]), OPEN, 0.012, 0),
            (np.array([obj[0], obj[1], obj[2] - 0.003]), OPEN, 0.008, 0),
            (tcp, CLOSED, None, 4),
            (np.array([tcp[0], tcp[1], self.LIFT_Z]), CLOSED, 0.02, 0),
            (np.array([cloth[0], cloth[1], self.LIFT_Z]), CLOSED, 0.012, 0),
            (np.array([cloth[0], cloth[1], place_z]), CLOSED, 0.01, 0),
            (tcp, OPEN, None, 3),
            (np.array([tcp[0], tcp[1], self.LIFT_Z]), OPEN, None, 10**6),
        )
        return self._run(script, tcp)


class OpenDrawerExpert(_Expert):
    """Closed fingers down into the gap behind the handle bar, then pull the drawer out."""

    def act(self, obs: dict) -> np.ndarray:
        tcp = obs["proprio"][:3].astype(np.float64)
        state = self._state(obs)
        handle = state[1:4]
        # Between the bar (radius 6 mm) and the drawer front, a little nearer the bar.
        gap_x = handle[0] + 0.5 * HANDLE_STANDOFF - 0.001
        travel = self.env.drawer_travel
        grip_z = handle[2] - 0.004
        script = (
            (np.array([gap_x, handle[1], grip_z + 0.08]), CLOSED, 0.01, 0),
            (np.array([gap_x, handle[1], grip_z]), CLOSED, 0.008, 0),
            # Pull (the goal follows the handle, see below) until the drawer is fully out.
            (np.array([gap_x - travel, handle[1], grip_z]), CLOSED, None, 10**6),
        )
        if self.phase == 2:
            remaining = max(0.0, travel + 0.005 - float(state[0]))
            return self._toward(tcp, np.array([gap_x - remaining, handle[1], grip_z]), CLOSED)
        return self._run(script, tcp)


def make_expert(env, noise: float = 0.0, seed: int | None = None, cloth: int | None = None) -> _Expert:
    """The scripted expert for `env`'s task; `cloth` fixes a pick-and-place expert's cloth."""
    task = env.unwrapped.task_name
    if task == "open_drawer":
        if cloth is not None:
            raise ValueError("expert: open_drawer has no cloth to choose")
        return OpenDrawerExpert(env, noise=noise, seed=seed)
    return PickPlaceExpert(env, noise=noise, seed=seed, cloth=cloth)
