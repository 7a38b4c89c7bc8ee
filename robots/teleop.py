"""Teleoperation devices for recording demonstrations: a SpaceMouse, or the keyboard.

    with KeyboardTeleop() as device:                    # or SpaceMouseTeleop()
        command = device.read()                         # once per control step
        env.step(command.action)                        # through the env, so through the safety layer
        if command.end is not None: ...                 # "keep" / "discard" / "quit"

A `TeleopCommand` carries a 7-D action in the env's action space ([-1, 1]; gripper +1 open,
-1 closed, held until toggled) and optionally how the operator ends the episode.

Keyboard (reads one key at a time from a terminal in cbreak mode, or from any stream):
  w / s  +x / -x     a / d  +y / -y     r / f  +z / -z
  u / o  roll        i / k  pitch       j / l  yaw          space  toggle the gripper
  Enter  end, keep   x / Backspace  end, discard            q  end, discard, and stop recording
Each read takes the keys typed since the previous one, up to and including the first
episode-ending key (later keys wait for the next read); repeated keys add up, clipped to 1.

SpaceMouse (through `pyspacemouse`, installed separately): the six axes are the six deltas
(scaled by `gain`, with a dead zone); button 0 toggles the gripper, button 1 ends the episode
and keeps it, both buttons together discard it.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import select
import sys

import numpy as np

from robots.arm import MissingDriver

__all__ = ["TeleopCommand", "KeyboardTeleop", "SpaceMouseTeleop", "make_teleop", "KEYMAP"]

# key -> (action index, sign)
KEYMAP = {
    "w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "r": (2, 1), "f": (2, -1),
    "u": (3, 1), "o": (3, -1), "i": (4, 1), "k": (4, -1), "j": (5, 1), "l": (5, -1),
}  # fmt: skip
END_KEYS = {"\n": "keep", "\r": "keep", "x": "discard", "\x7f": "discard", "q": "quit"}


@dataclasses.dataclass(frozen=True)
class TeleopCommand:
    action: np.ndarray  # (7,) float32 in [-1, 1]
    end: str | None = None  # None, "keep", "discard" or "quit"


class KeyboardTeleop:
    def __init__(self, stream=None):
        self.stream = sys.stdin if stream is None else stream
        self._pending: collections.deque[str] = collections.deque()
        self._gripper = 1.0
        self._saved_tty = None

    def __enter__(self) -> KeyboardTeleop:
        fd = self.stream.fileno()
        if os.isatty(fd):
            import termios
            import tty

            self._saved_tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved_tty)

    def reset(self) -> None:
        """A new episode: the gripper starts open (as the env's reset leaves it)."""
        self._gripper = 1.0

    def _drain(self) -> None:
        fd = self.stream.fileno()
        while select.select([fd], [], [], 0)[0]:
            data = os.read(fd, 256).decode(errors="replace")
            if not data:
                break
            self._pending.extend(data)

    def read(self) -> TeleopCommand:
        self._drain()
        action = np.zeros(7, np.float32)
        end = None
        while self._pending and end is None:
            key = self._pending.popleft()
            if key in KEYMAP:
                index, sign = KEYMAP[key]
                action[index] += sign
            elif key == " ":
                self._gripper = -self._gripper
            elif key in END_KEYS:
                end = END_KEYS[key]
        action[:6] = np.clip(action[:6], -1.0, 1.0)
        action[6] = self._gripper
        return TeleopCommand(action, end)


class SpaceMouseTeleop:
    def __init__(self, gain: float = 1.0, dead_zone: float = 0.05):
        try:
            import pyspacemouse
        except ImportError as e:
            raise MissingDriver(
                "spacemouse: the pyspacemouse package is not installed (pip install pyspacemouse; "
                "it needs the hidapi library); use --device keyboard instead"
            ) from e
        self._lib, self.gain, self.dead_zone = pyspacemouse, gain, dead_zone
        self._gripper = 1.0
        self._buttons = (0, 0)

    def __enter__(self) -> SpaceMouseTeleop:
        if not self._lib.open():
            raise MissingDriver(
                "spacemouse: no SpaceMouse found (is it plugged in, with udev access?)"
            )
        return self

    def __exit__(self, *exc) -> None:
        self._lib.close()

    def reset(self) -> None:
        self._gripper = 1.0

    def read(self) -> TeleopCommand:
        state = self._lib.read()
        axes = np.array([state.y, -state.x, state.z, -state.roll, state.pitch, -state.yaw], float)
        axes[np.abs(axes) < self.dead_zone] = 0.0
        buttons = tuple(int(b) for b in list(state.buttons)[:2]) + (0,) * (2 - len(state.buttons))
        pressed = [now and not before for now, before in zip(buttons, self._buttons, strict=True)]
        self._buttons = buttons
        end = None
        if buttons == (1, 1):
            end = "discard"
        elif pressed[1]:
            end = "keep"
        elif pressed[0]:
            self._gripper = -self._gripper
        action = np.append(np.clip(axes * self.gain, -1.0, 1.0), self._gripper).astype(np.float32)
        return TeleopCommand(action, end)


def make_teleop(device: str, stream=None):
    if device == "keyboard":
        return KeyboardTeleop(stream)
    if device == "spacemouse":
        return SpaceMouseTeleop()
    raise ValueError(f"teleop: unknown device {device!r}; expected 'spacemouse' or 'keyboard'")
