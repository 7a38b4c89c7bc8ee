"""Teleoperation devices and `rrl record-demos` against the sim twin (--backend sim)."""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import types

import numpy as np
import pytest

import envs
from experiments.hardware.record_demos import main as record_demos
from robots.arm import MissingDriver
from robots.teleop import KeyboardTeleop, SpaceMouseTeleop


def test_keyboard_keys_add_up_and_stop_at_the_first_ending_key():
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "rb", buffering=0) as stream, KeyboardTeleop(stream) as keys:
        os.write(write_fd, b"wwd r \nsx")
        first = keys.read()
        np.testing.assert_array_equal(first.action, [1, -1, 1, 0, 0, 0, 1])  # w+w clipped to 1
        assert first.end == "keep"
        second = keys.read()
        np.testing.assert_array_equal(second.action, [-1, 0, 0, 0, 0, 0, 1])
        assert second.end == "discard"
        assert keys.read().end is None
        os.write(write_fd, b" ")
        assert keys.read().action[6] == -1  # the gripper toggles and stays closed
        assert keys.read().action[6] == -1
        keys.reset()
        assert keys.read().action[6] == 1
    os.close(write_fd)


def test_spacemouse_maps_axes_and_buttons(monkeypatch):
    State = collections.namedtuple("State", "t x y z roll pitch yaw buttons")
    states = iter(
        [
            State(0, 0.5, 0.2, 0.01, 0, 0, 0, [0, 0]),
            State(0, 0, 0, 0, 0, 0, 0, [1, 0]),
            State(0, 0, 0, 0, 0, 0, 0, [0, 1]),
            State(0, 0, 0, 0, 0, 0, 0, [1, 1]),
        ]
    )
    fake = types.SimpleNamespace(open=lambda: True, close=lambda: None, read=lambda: next(states))
    monkeypatch.setitem(sys.modules, "pyspacemouse", fake)
    with SpaceMouseTeleop(gain=2.0) as mouse:
        moved = mouse.read()
        np.testing.assert_allclose(moved.action, [0.4, -1.0, 0.0, 0, 0, 0, 1])  # dead zone on z
        assert mouse.read().action[6] == -1 and mouse.read().end == "keep"
        assert mouse.read().end == "discard"


def test_spacemouse_without_its_library_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspacemouse", None)
    with pytest.raises(MissingDriver, match="pyspacemouse"):
        SpaceMouseTeleop()


def test_record_demos_in_sim_keeps_and_discards(tmp_path):
    read_fd, write_fd = os.pipe()
    # Keys typed over time: demo 1 moves +x twice, closes the gripper and is kept; demo 2 is
    # discarded; demo 3 is ended with q (discarded, and recording stops).
    chunks = [b"w", b"w", b" ", b"\n", b"s", b"x", b"q"]

    def operator():
        for chunk in chunks:
            time.sleep(0.25)
            os.write(write_fd, chunk)

    typist = threading.Thread(target=operator)
    typist.start()
    argv = [
        "--robot", "widowx", "--task", "pick_place", "--device", "keyboard", "--backend", "sim",
        "--episodes", "3", "--image-size", "32", "--control-hz", "20", "--max-steps", "60",
        "--out", str(tmp_path),
    ]  # fmt: skip
    with os.fdopen(read_fd, "rb", buffering=0) as stream:
        code = record_demos(argv, stream=stream)
    typist.join()
    os.close(write_fd)
    assert code == 0
    kept = sorted((tmp_path / "demos").iterdir())
    discarded = sorted((tmp_path / "discarded").iterdir())
    assert len(kept) == 1 and len(discarded) == 2
    demo = envs.Episode.load(kept[0], with_video=False)
    assert demo.metadata["demo"] == "kept" and demo.metadata["teleop_device"] == "keyboard"
    assert demo.end_reason == "operator" and demo.robot == "widowx"
    assert demo.actions[:, 0].max() == 1 and demo.actions[:, 0].min() == 0  # +x only
    assert demo.actions[-1, 6] == -1  # the gripper was closed
    assert demo.proprio.shape == (demo.num_steps + 1, 14)
    assert envs.Episode.load(discarded[0], with_video=False).metadata["demo"] == "discarded"
