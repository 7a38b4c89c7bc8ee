"""The guarded arm: a watchdog that outlives a failing stop(), and joint-limit margins enforced."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from robots.arm import IKFailure, MotionRefused
from robots.guarded_arm import GuardedArm, Watchdog
from robots.safety import SafetyLayer
from robots.specs import WIDOWX
from tests.fixtures.interbotix_fake import installed_interbotix_fake
from tests.fixtures.robot_recording_arm import RecordingArm


class FlakyStopArm(RecordingArm):
    """stop() raises IndexError (as the WidowX path can) on its first `failures` calls."""

    def __init__(self, spec, failures: int):
        super().__init__(spec)
        self.failures, self.stop_calls = failures, 0

    def stop(self) -> None:
        self.stop_calls += 1
        if self.stop_calls <= self.failures:
            raise IndexError("list index out of range")
        super().stop()


def wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_watchdog_retries_a_stop_that_raises_and_keeps_watching(caplog):
    arm = FlakyStopArm(WIDOWX, failures=2)
    layer = SafetyLayer(WIDOWX)
    with caplog.at_level(logging.ERROR), GuardedArm(arm, layer, command_timeout_s=0.1) as guarded:
        guarded.start_episode()  # then no command: the watchdog trips, stop() raises twice
        assert wait_for(lambda: arm.stops == 1), f"stop() was tried {arm.stop_calls} times"
        assert arm.stop_calls == 3 and guarded.watchdog.is_alive()
        failures = [r.getMessage() for r in caplog.records if "IndexError" in r.getMessage()]
        assert len(failures) == 2 and all(m.startswith("widowx:") for m in failures)

        guarded.reset()  # the next timeout stops the arm again
        guarded.start_episode()
        assert wait_for(lambda: arm.stops == 2)
        guarded.end_episode()
        guarded.reset()
        layer.set_estop("operator")  # and so does the e-stop
        assert wait_for(lambda: arm.stops == 3)
        assert guarded.watchdog.is_alive()


def test_watchdog_retries_a_failing_stop_with_a_bounded_back_off():
    calls: list[float] = []

    def stop_that_fails(_reason):
        calls.append(time.monotonic())
        if len(calls) < 8:
            raise RuntimeError("servo bus busy")

    layer = SafetyLayer(WIDOWX)
    dog = Watchdog(layer, stop_that_fails, {"command": 0.05}, poll_s=0.01, retry_max_s=0.08)
    try:
        dog.arm("command")
        assert wait_for(lambda: len(calls) == 8), f"only {len(calls)} tries"
        gaps = np.diff(calls)
        assert np.all(gaps >= 0.01 - 1e-3)  # never faster than the poll
        assert np.all(gaps[3:] >= 0.08 - 1e-3)  # the back-off reached its cap ...
        assert dog.is_alive() and dog.tripped is not None  # ... and the watching went on
        time.sleep(0.3)
        assert len(calls) == 8  # once stop() succeeded nothing more is tried until a reset
    finally:
        dog.close()


def test_watchdog_refuses_a_non_positive_retry_cap():
    with pytest.raises(ValueError, match="retry_max_s"):
        Watchdog(SafetyLayer(WIDOWX), print, {"command": 1.0}, retry_max_s=0.0)


def near_limit(joint: int, inside_by: float) -> np.ndarray:
    q = np.array(WIDOWX.home_joints)
    q[joint] = WIDOWX.joint_limits[joint][1] - inside_by
    return q


def test_a_target_whose_joints_enter_the_margin_is_refused_and_never_sent(tmp_path):
    arm = RecordingArm(WIDOWX)
    arm.ik_joints = near_limit(joint=1, inside_by=0.001)  # 1 mrad from the shoulder's limit
    layer = SafetyLayer(WIDOWX, log_path=tmp_path / "safety.jsonl")
    with GuardedArm(arm, layer) as guarded:
        guarded.start_episode()
        with pytest.raises(MotionRefused, match=r"widowx: target joint 2 .* within 0.05 rad"):
            guarded.step([1, 0, 0, 0, 0, 0, -1])
        assert arm.moves == [] and arm.gripper == 1.0  # neither the motion nor the gripper
        assert [e.kind for e in layer.events] == ["joint_margin"]
        assert "target joint 2" in (tmp_path / "safety.jsonl").read_text()

        arm.ik_joints = near_limit(joint=1, inside_by=0.051)  # just outside the margin: sent
        guarded.step([1, 0, 0, 0, 0, 0, -1])
        assert len(arm.moves) == 1 and arm.gripper == 0.0


def test_measured_joints_in_the_margin_are_logged_but_do_not_block_the_way_out():
    arm = RecordingArm(WIDOWX)
    arm.joints = near_limit(joint=4, inside_by=0.01)  # the arm is already there (e.g. teleop)
    layer = SafetyLayer(WIDOWX)
    with GuardedArm(arm, layer) as guarded:
        guarded.start_episode()
        guarded.step(np.zeros(7))  # the target's joints are home's: outside the margin
    assert len(arm.moves) == 1
    assert [e.kind for e in layer.events] == ["joint_margin"]
    assert layer.events[0].message.startswith("measured joint 5")


def test_widowx_solve_ik_answers_the_sdk_solution_without_moving():
    with installed_interbotix_fake() as sdk:
        from robots.widowx import WidowXArm

        with WidowXArm(moving_time_s=0.02, accel_time_s=0.01, home_time_s=0.02) as arm:
            arm.home()
            before = len([c for c in sdk.robot.names() if c == "set_joint_positions"])
            joints = arm.solve_ik([0.3, 0.0, 0.15], np.zeros(3))
            np.testing.assert_allclose(joints, WIDOWX.home_joints, atol=0.02)
            sdk.robot.fail_next_ik = True
            with pytest.raises(IKFailure):
                arm.solve_ik([0.3, 0.0, 0.15], np.zeros(3))
            assert len([c for c in sdk.robot.names() if c == "set_joint_positions"]) == before
