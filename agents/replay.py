"""Host-side (numpy) replay buffer of decision-level transitions, and episode -> transitions.

An agent decides once every H control steps (one action chunk, or the DSRL noise that produces
it), so an episode of N control steps gives K = ceil(N / H) transitions at steps 0, H, 2H, ...
Rewards are sparse: the episode's terminal reward sits on the last transition only.

Discounts (the mask multiplying gamma * Q(next_obs)):
  * within an episode: 1;
  * last transition, `terminal=True` (success or a true terminal state): 0, no bootstrap;
  * last transition, `terminal=False` (time limit): 0 by default, 1 with `bootstrap_time_limit`.
Why time limits do not bootstrap by default: the reward is an end-of-episode score of the final
state (RoboReward's rubric, the oracle), i.e. one judgement of the whole episode, with nothing
after it. Bootstrapping on top of such a reward counts the final state twice, and a policy that
stalls at partial progress would see Q ~ r / (1 - gamma) (50x r at gamma 0.99) against r for a
success that ends the episode early: it would learn to time out. Bootstrapping at time limits is
right for per-step rewards of an ongoing task; switch it on for those.

Camera data is stored once per decision step: an episode's K transitions reference K + 1 frames in
one frame ring (`obs_frame`, `next_frame` indices), never copies per obs and next_obs. Whole
episodes are evicted first-in first-out when either the transition ring or the frame ring is full.
What a frame holds is a `FrameSpec`: the C camera images (uint8 (C, H, W, 3), under
`obs["images"]`, for SAC and BC, which train an encoder) or DSRL's frozen-encoder features
(float32 (C * F,), under `obs["features"]`).

Bytes per transition (D state dims, A = H * 7 agent-action dims; frames: about one per transition,
(K + 1) / K exactly): 8 D + 4 A + 16 for the state part, plus 16 of frame indices and one frame:
C * H * W * 3 for images (2 cameras at 64x64: 24,576; at 128x128: 98,304) or 4 C F for features
(2 cameras, F = 64: 512). `ReplayBuffer.nbytes` gives the buffer's allocated total.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

__all__ = ["FrameSpec", "ReplayBuffer", "Transitions", "episode_to_transitions", "pad_chunks"]


@dataclasses.dataclass(frozen=True)
class FrameSpec:
    """What the buffer keeps once per decision step beside the state."""

    key: str  # the observation entry it fills: "images" or "features"
    shape: tuple[int, ...]  # per step: (C, H, W, 3) images or (C * F,) features
    dtype: str  # "uint8" for images, "float32" for features

    def __post_init__(self) -> None:
        allowed = {"images": "uint8", "features": "float32"}
        if allowed.get(self.key) != self.dtype:
            raise ValueError(
                f"FrameSpec: key and dtype must be one of {allowed}, got {self.key!r} {self.dtype!r}"
            )

    @property
    def nbytes(self) -> int:
        """Bytes of one frame."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def pad_chunks(actions: np.ndarray, starts: np.ndarray, chunk_len: int) -> np.ndarray:
    """actions[t : t + H] for each start t, padded past the end by repeating the last action."""
    idx = np.minimum(starts[:, None] + np.arange(chunk_len)[None, :], len(actions) - 1)
    return actions[idx]


@dataclasses.dataclass(frozen=True)
class Transitions:
    """One episode's K decision-level transitions (numpy). `frames`: (K + 1, ...) or None."""

    obs: np.ndarray  # (K, D) float32
    next_obs: np.ndarray  # (K, D) float32
    agent_action: np.ndarray  # (K, A) float32: flattened noise or executed action chunk
    reward: np.ndarray  # (K,) float32, non-zero only on the last transition
    discount: np.ndarray  # (K,) float32 in {0, 1}
    episode_return: float  # the terminal reward of this episode
    steps_to_end: np.ndarray  # (K,) float32: decisions after this one (K - 1 - k)
    # At the decision steps and the end: uint8 images (K + 1, C, H, W, 3) or features (K + 1, C * F).
    frames: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.reward)


def episode_to_transitions(
    obs: np.ndarray,
    actions: np.ndarray,
    reward: float,
    *,
    chunk_len: int,
    terminal: bool,
    noise: np.ndarray | None = None,
    images: np.ndarray | None = None,
    bootstrap_time_limit: bool = False,
) -> Transitions:
    """Converts an episode's arrays into decision-level transitions.

    obs (N + 1, D) (see `agents.observation.make_obs`), actions (N, 7), reward the terminal
    reward, noise (K, H, 7) the DSRL noise of each decision (then it is the agent action; otherwise
    the executed chunk is, padded by repeating the last action when the episode ended mid-chunk),
    images (N + 1, C, H, W, 3) uint8 (any trailing shape is kept as it is).
    """
    obs = np.asarray(obs, np.float32)
    actions = np.asarray(actions, np.float32)
    n = len(actions)
    if n == 0 or actions.ndim != 2 or obs.ndim != 2 or len(obs) != n + 1:
        raise ValueError(
            f"episode_to_transitions: need actions (N, A) with N >= 1 and obs (N + 1, D), "
            f"got actions {actions.shape} and obs {obs.shape}"
        )
    if not np.isfinite(reward):
        raise ValueError(f"episode_to_transitions: reward must be finite, got {reward!r}")
    starts = np.arange(0, n, chunk_len)
    k = len(starts)
    ends = np.minimum(starts + chunk_len, n)
    if noise is not None:
        noise = np.asarray(noise, np.float32)
        if noise.shape[:2] != (k, chunk_len):
            raise ValueError(
                f"episode_to_transitions: noise must be (K={k}, H={chunk_len}, A) for {n} steps, "
                f"got {noise.shape}"
            )
        agent_action = noise.reshape(k, -1)
    else:
        agent_action = pad_chunks(actions, starts, chunk_len).reshape(k, -1)
    rewards = np.zeros((k,), np.float32)
    rewards[-1] = reward
    discount = np.ones((k,), np.float32)
    discount[-1] = 0.0 if terminal or not bootstrap_time_limit else 1.0
    frames = None
    if images is not None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim < 2 or len(images) != n + 1:
            raise ValueError(
                f"episode_to_transitions: images must be uint8 (N + 1={n + 1}, C, H, W, 3), "
                f"got {images.dtype} {images.shape}"
            )
        frames = images[np.append(starts, n)]
    return Transitions(
        obs=obs[starts],
        next_obs=obs[ends],
        agent_action=np.ascontiguousarray(agent_action),
        reward=rewards,
        discount=discount,
        episode_return=float(reward),
        steps_to_end=np.arange(k - 1, -1, -1, dtype=np.float32),
        frames=frames,
    )


class ReplayBuffer:
    """Fixed-capacity FIFO buffer of whole episodes' transitions; uniform sampling on the host."""

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        action_size: int,
        frames: FrameSpec | None = None,
        frame_capacity: int | None = None,
    ):
        if capacity <= 0 or obs_dim <= 0 or action_size <= 0:
            raise ValueError(
                f"ReplayBuffer: capacity, obs_dim and action_size must be positive, "
                f"got {capacity}, {obs_dim}, {action_size}"
            )
        self.capacity = int(capacity)
        self.obs_dim, self.action_size, self.frame_spec = obs_dim, action_size, frames
        self._obs = np.zeros((capacity, obs_dim), np.float32)
        self._next_obs = np.zeros((capacity, obs_dim), np.float32)
        self._agent_action = np.zeros((capacity, action_size), np.float32)
        self._reward = np.zeros((capacity,), np.float32)
        self._discount = np.zeros((capacity,), np.float32)
        self._return = np.zeros((capacity,), np.float32)
        self._to_end = np.zeros((capacity,), np.float32)
        self._start = self._size = 0
        self._episodes: collections.deque[int] = collections.deque()
        self.frame_capacity = 0
        if frames is not None:
            self.frame_capacity = int(frame_capacity or capacity)
            self.frames = np.zeros((self.frame_capacity, *frames.shape), frames.dtype)
            self.obs_frame = np.zeros((capacity,), np.int64)
            self.next_frame = np.zeros((capacity,), np.int64)
            self._frame_start = self._frame_size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def num_frames(self) -> int:
        """Frames held (K + 1 per episode); 0 without a frame spec."""
        return self._frame_size if self.frame_spec is not None else 0

    @property
    def nbytes(self) -> int:
        """Bytes of every array the buffer allocated (its memory at full capacity)."""
        return sum(x.nbytes for x in vars(self).values() if isinstance(x, np.ndarray))

    def add(self, tr: Transitions) -> None:
        """Adds one episode's transitions, evicting the oldest whole episodes to make room."""
        k = len(tr)
        if tr.obs.shape != (k, self.obs_dim) or tr.agent_action.shape != (k, self.action_size):
            raise ValueError(
                f"ReplayBuffer: expected obs (K, {self.obs_dim}) and agent_action "
                f"(K, {self.action_size}), got {tr.obs.shape} and {tr.agent_action.shape}"
            )
        spec = self.frame_spec
        uses_frames = spec is not None
        if uses_frames and (
            tr.frames is None
            or tr.frames.shape != (k + 1, *spec.shape)
            or tr.frames.dtype != spec.dtype
        ):
            got = None if tr.frames is None else f"{tr.frames.dtype} {tr.frames.shape}"
            raise ValueError(
                f"ReplayBuffer: expected {spec.key} {spec.dtype} {(k + 1, *spec.shape)}, got {got}"
            )
        if k > self.capacity or (uses_frames and k + 1 > self.frame_capacity):
            raise ValueError(f"ReplayBuffer: an episode of {k} transitions does not fit the buffer")
        while self._size + k > self.capacity or (
            uses_frames and self._frame_size + k + 1 > self.frame_capacity
        ):
            old = self._episodes.popleft()
            self._start, self._size = (self._start + old) % self.capacity, self._size - old
            if uses_frames:
                self._frame_start = (self._frame_start + old + 1) % self.frame_capacity
                self._frame_size -= old + 1
        slots = (self._start + self._size + np.arange(k)) % self.capacity
        self._obs[slots], self._next_obs[slots] = tr.obs, tr.next_obs
        self._agent_action[slots], self._reward[slots] = tr.agent_action, tr.reward
        self._discount[slots], self._return[slots] = tr.discount, tr.episode_return
        self._to_end[slots] = tr.steps_to_end
        if uses_frames:
            fslots = (self._frame_start + self._frame_size + np.arange(k + 1)) % self.frame_capacity
            self.frames[fslots] = tr.frames
            self.obs_frame[slots], self.next_frame[slots] = fslots[:-1], fslots[1:]
            self._frame_size += k + 1
        self._size += k
        self._episodes.append(k)

    def sample_indices(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if self._size == 0:
            raise ValueError("ReplayBuffer: cannot sample from an empty buffer")
        return (self._start + rng.integers(0, self._size, size=shape)) % self.capacity

    def gather(self, idx: np.ndarray) -> dict:
        """The batch dict (see `agents.state`) for buffer slots `idx` of any shape."""
        obs, next_obs = {"state": self._obs[idx]}, {"state": self._next_obs[idx]}
        if self.frame_spec is not None:
            obs[self.frame_spec.key] = self.frames[self.obs_frame[idx]]
            next_obs[self.frame_spec.key] = self.frames[self.next_frame[idx]]
        return {
            "obs": obs,
            "next_obs": next_obs,
            "agent_action": self._agent_action[idx],
            "reward": self._reward[idx],
            "discount": self._discount[idx],
            "episode_return": self._return[idx],
            "steps_to_end": self._to_end[idx],
        }

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> dict:
        """A batch of uniformly drawn transitions with leading `shape`, e.g. (n, B)."""
        return self.gather(self.sample_indices(rng, shape))
