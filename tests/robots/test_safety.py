"""The safety layer: pure clipping, the event log, the e-stop (key and signal) and the watchdog."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from robots.arm import ArmFault
from robots.guarded_arm import (
    EmergencyStop,
    GuardedArm,
    KeyboardEStop,
    Watchdog,
    WatchdogTripped,
    install_signal_estop,
)
from robots.safety import SafetyLayer, clip_delta, joint_margin_events
from robots.specs import FRANKA, WIDOWX, arm_spec
from tests.fixtures.robot_recording_arm import RecordingArm

HOME_POS = np.array([0.3, 0.0, 0.15])


def kinds(events):
    return [e.kind for e in events]


@pytest.mark.parametrize("spec", [FRANKA, WIDOWX], ids=lambda s: s.name)
def test_in_range_action_scales_by_the_spec_limits(spec):
    centre = (np.array(spec.workspace_low) + np.array(spec.workspace_high)) / 2
    action = np.array([0.5, -1.0, 0.2, 0.1, -0.4, 1.0, 0.0])
    target, events = clip_delta(spec, centre, np.zeros(3), action)
    np.testing.assert_allclose(target.position, centre + action[:3] * spec.max_step_translation)
    np.testing.assert_allclose(target.rpy_offset, action[3:6] * spec.max_step_rotation)
    assert target.gripper == pytest.approx(0.5) and not target.refused
    assert events == []


def test_gripper_maps_minus_one_to_closed_and_plus_one_to_open():
    for value, expected in ((-1.0, 0.0), (1.0, 1.0), (0.0, 0.5)):
        target, _ = clip_delta(WIDOWX, HOME_POS, np.zeros(3), [0, 0, 0, 0, 0, 0, value])
        assert target.gripper == pytest.approx(expected)


def test_out_of_range_action_is_clipped_and_logged():
    target, events = clip_delta(WIDOWX, HOME_POS, np.zeros(3), [3.0, 0, 0, 0, 0, 0, -7.0])
    assert kinds(events) == ["action_clipped"]
    np.testing.assert_allclose(target.position, HOME_POS + [WIDOWX.max_step_translation, 0, 0])
    assert target.gripper == 0.0
    assert events[0].requested[0] == 3.0 and events[0].applied[0] == 1.0


def test_workspace_box_clips_each_axis():
    at_edge = np.array([WIDOWX.workspace_high[0], 0.0, WIDOWX.workspace_low[2]])
    target, events = clip_delta(WIDOWX, at_edge, np.zeros(3), [1, 0, -1, 0, 0, 0, 0])
    np.testing.assert_allclose(target.position, at_edge)
    assert kinds(events) == ["workspace"]


def test_arm_outside_the_box_walks_back_one_step_at_a_time():
    outside = np.array([WIDOWX.workspace_high[0] + 0.2, 0.0, 0.1])
    target, events = clip_delta(WIDOWX, outside, np.zeros(3), np.zeros(7))
    assert target.position[0] == pytest.approx(outside[0] - WIDOWX.max_step_translation)
    assert "step" in kinds(events)


def test_orientation_offset_is_limited():
    limit = np.array(FRANKA.max_orientation_offset)
    target, events = clip_delta(FRANKA, [0.5, 0, 0.3], limit, [0, 0, 0, 1, 1, 1, 0])
    np.testing.assert_allclose(target.rpy_offset, limit)
    assert kinds(events) == ["orientation"]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_refused_and_holds(bad):
    action = np.zeros(7)
    action[2] = bad
    target, events = clip_delta(FRANKA, [0.5, 0, 0.3], [0.1, 0, 0], action)
    assert target.refused and target.gripper is None
    np.testing.assert_allclose(target.position, [0.5, 0, 0.3])
    np.testing.assert_allclose(target.rpy_offset, [0.1, 0, 0])
    assert kinds(events) == ["non_finite"]


def test_wrong_shape_is_refused():
    target, events = clip_delta(FRANKA, [0.5, 0, 0.3], np.zeros(3), np.zeros(6))
    assert target.refused and kinds(events) == ["bad_shape"]


def test_joint_margin_events_name_the_joint():
    q = np.array(FRANKA.home_joints)
    assert joint_margin_events(FRANKA, q) == []
    q[3] = FRANKA.joint_limits[3][1] - 0.01
    events = joint_margin_events(FRANKA, q)
    assert kinds(events) == ["joint_margin"] and "joint 4" in events[0].message
    with pytest.raises(ValueError, match="shape"):
        joint_margin_events(FRANKA, q[:3])


def test_layer_logs_every_event_to_jsonl(tmp_path):
    log = tmp_path / "safety.jsonl"
    layer = SafetyLayer(arm_spec("widowx"), log_path=log)
    layer.filter_delta(HOME_POS, np.zeros(3), [2, 0, 0, 0, 0, 0, 0])
    layer.filter_delta(HOME_POS, np.zeros(3), [np.nan] * 7)
    layer.filter_delta(HOME_POS, np.zeros(3), np.zeros(7))  # nothing to log
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["action_clipped", "non_finite"]
    assert rows[0]["robot"] == "widowx" and rows[0]["requested"][0] == 2.0
    assert kinds(layer.events) == ["action_clipped", "non_finite"]


def test_estop_refuses_everything_until_cleared():
    layer = SafetyLayer(WIDOWX)
    layer.set_estop("test")
    target, events = layer.filter_delta(HOME_POS, np.zeros(3), np.zeros(7))
    assert target.refused and kinds(events) == ["estop"]
    layer.clear_estop()
    target, _ = layer.filter_delta(HOME_POS, np.zeros(3), np.zeros(7))
    assert not target.refused


def test_signal_sets_the_estop():
    layer = SafetyLayer(WIDOWX)
    previous = install_signal_estop(layer, signal.SIGUSR1)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 2
        while not layer.estopped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert layer.estop_reason == "signal SIGUSR1"
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_key_sets_the_estop():
    layer = SafetyLayer(WIDOWX)
    read_fd, write_fd = os.pipe()
    with (
        os.fdopen(read_fd, "rb", buffering=0) as stream,
        KeyboardEStop(layer, key="e", stream=stream, poll_s=0.01),
    ):
        os.write(write_fd, b"x")
        time.sleep(0.05)
        assert not layer.estopped
        os.write(write_fd, b"e")
        deadline = time.monotonic() + 2
        while not layer.estopped and time.monotonic() < deadline:
            time.sleep(0.01)
    os.close(write_fd)
    assert layer.estop_reason == "key 'e'"


def test_watchdog_stops_the_arm_when_commands_stop():
    layer = SafetyLayer(WIDOWX)
    trips = []
    dog = Watchdog(layer, trips.append, {"command": 0.1}, poll_s=0.01)
    try:
        dog.arm("command")
        for _ in range(5):
            time.sleep(0.04)
            dog.kick("command")
        assert trips == []
        time.sleep(0.3)
        assert len(trips) == 1 and "no command" in trips[0]
        assert kinds(layer.events) == ["watchdog"]
        dog.reset()
        assert dog.tripped is None
    finally:
        dog.close()


def test_guarded_arm_moves_only_through_the_layer_and_stops_on_lost_learner():
    arm = RecordingArm(WIDOWX)
    layer = SafetyLayer(WIDOWX)
    with GuardedArm(arm, layer, command_timeout_s=5.0, learner_timeout_s=0.15) as guarded:
        guarded.start_episode()
        _, events = guarded.step([5, 0, 0, 0, 0, 0, 1])
        assert kinds(events) == ["action_clipped"]
        (position, _rpy), _ = arm.moves[-1]
        assert position[0] == pytest.approx(0.3 + WIDOWX.max_step_translation)
        assert arm.gripper == 1.0
        guarded.step([np.nan] * 7)  # refused: no new motion
        assert len(arm.moves) == 1
        time.sleep(0.4)  # no learner contact
        assert arm.stops == 1
        with pytest.raises(WatchdogTripped):
            guarded.step(np.zeros(7))
        guarded.kick_learner()
        guarded.reset()
        guarded.step(np.zeros(7))
        layer.set_estop("operator")
        with pytest.raises(EmergencyStop):
            guarded.step(np.zeros(7))


def test_guarded_arm_refuses_to_move_an_arm_that_reports_errors():
    arm = RecordingArm(WIDOWX)
    arm.errors = ("motor_fault:elbow:0x20",)
    with GuardedArm(arm, SafetyLayer(WIDOWX)) as guarded, pytest.raises(ArmFault, match="elbow"):
        guarded.step(np.zeros(7))
    assert arm.moves == []
