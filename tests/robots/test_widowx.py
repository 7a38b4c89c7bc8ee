"""The WidowX driver against a fake of the Interbotix Python API (see the fixture's docstring)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from robots.arm import ArmConnectionError, ArmFault, IKFailure, MissingDriver, MotionRefused
from robots.specs import WIDOWX
from robots.widowx import WidowXArm
from tests.fixtures.interbotix_fake import SLEEP, fk, installed_interbotix_fake

FAST = {"moving_time_s": 0.02, "accel_time_s": 0.01, "home_time_s": 0.02, "gripper_delay_s": 0.0}


@pytest.fixture()
def sdk():
    with installed_interbotix_fake() as sdk:
        yield sdk


@pytest.fixture()
def arm(sdk):
    with WidowXArm(**FAST) as arm:
        arm.home()
        yield arm


def test_missing_sdk_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "interbotix_xs_modules", None)
    with pytest.raises(MissingDriver, match="interbotix_xs_modules.*xs_sdk"):
        WidowXArm()


def test_sdk_without_the_xs_sdk_node_is_a_connection_error(sdk):
    sdk.robot.services_up = False
    with pytest.raises(ArmConnectionError, match="xs_sdk node"):
        WidowXArm(**FAST)


def test_connects_with_the_wx250s_arm_and_gripper_groups_and_shuts_down(sdk):
    with WidowXArm(**FAST):
        pass
    name, args, kwargs = sdk.robot.calls[0]
    assert name == "InterbotixManipulatorXS" and args == ("wx250s",)
    assert kwargs == {"group_name": "arm", "gripper_name": "gripper"}
    assert sdk.robot.names()[1] == "robot_startup" and sdk.robot.names()[-1] == "robot_shutdown"


def test_home_is_the_spec_start_pose_gripper_down(arm, sdk):
    state = arm.read_state()
    np.testing.assert_allclose(state.joint_positions, WIDOWX.home_joints)
    np.testing.assert_allclose(state.ee_position, [0.3, 0.0, 0.15], atol=0.002)
    np.testing.assert_allclose(state.ee_rpy_offset, 0.0, atol=1e-3)
    assert state.gripper_width == pytest.approx(0.074) and state.errors == ()


def test_pose_command_solves_ik_without_executing_then_publishes_joints(arm, sdk):
    sdk.robot.calls.clear()
    arm.move_delta([0.02, -0.03, -0.04], [0.0, 0.1, 0.2])
    assert sdk.robot.names() == ["set_ee_pose_matrix", "set_joint_positions"]
    _, (matrix,), kwargs = sdk.robot.calls[0]
    assert kwargs["execute"] is False and len(kwargs["custom_guess"]) == 6
    state = arm.read_state()
    np.testing.assert_allclose(state.ee_position, [0.32, -0.03, 0.11], atol=0.002)
    np.testing.assert_allclose(state.ee_rpy_offset, [0.0, 0.1, 0.2], atol=0.003)
    np.testing.assert_allclose(fk(state.joint_positions), matrix, atol=0.002)


def test_ik_failure_raises_and_nothing_is_published(arm, sdk):
    sdk.robot.fail_next_ik = True
    sdk.robot.calls.clear()
    with pytest.raises(IKFailure, match="no solution"):
        arm.move_delta([0.0, 0.0, 0.01])
    assert "set_joint_positions" not in sdk.robot.names()
    np.testing.assert_allclose(arm.read_state().joint_positions, WIDOWX.home_joints)


def test_target_outside_the_workspace_is_refused_before_ik(arm, sdk):
    sdk.robot.calls.clear()
    with pytest.raises(MotionRefused, match="workspace"):
        arm.move_to_pose([0.7, 0.0, 0.15], np.zeros(3))
    assert sdk.robot.calls == []


def test_motor_fault_is_detected_and_reboot_recovers(arm, sdk):
    sdk.robot.inject_motor_fault("elbow")
    with pytest.raises(ArmFault, match="elbow") as caught:
        arm.move_delta([0.0, 0.0, 0.03])
    assert caught.value.errors == ("motor_fault:elbow:0x20",)
    assert arm.read_state().errors == ("motor_fault:elbow:0x20",)
    with pytest.raises(MotionRefused, match="recover"):
        arm.move_delta([0.0, 0.0, 0.01])
    arm.recover()
    name, args, kwargs = next(c for c in sdk.robot.calls if c[0] == "robot_reboot_motors")
    assert args == ("group", "arm", True) and kwargs == {"smart_reboot": True}
    assert arm.read_state().errors == ()
    before = arm.read_state().ee_position
    arm.move_delta([0.0, 0.0, -0.02])
    np.testing.assert_allclose(arm.read_state().ee_position - before, [0, 0, -0.02], atol=0.002)


def test_motor_that_stays_faulted_after_reboots_is_reported(arm, sdk, monkeypatch):
    sdk.robot.inject_motor_fault("shoulder")
    monkeypatch.setattr(type(arm._bot.core), "robot_reboot_motors", lambda *a, **k: None)
    with pytest.raises(ArmFault, match="shoulder.*power-cycle"):
        arm.recover()


def test_gripper_is_binary_release_and_grasp(arm, sdk):
    sdk.robot.calls.clear()
    arm.set_gripper(0.2)
    assert arm.read_state().gripper_width == pytest.approx(0.030)
    arm.set_gripper(0.3)  # still closed: no new command
    arm.set_gripper(0.9)
    assert sdk.robot.names() == ["gripper.grasp", "gripper.release"]
    with pytest.raises(ValueError, match="open_fraction"):
        arm.set_gripper(1.5)


def test_sleep_pose(arm, sdk):
    arm.sleep()
    np.testing.assert_allclose(arm.read_state().joint_positions, SLEEP)


def test_stop_holds_the_current_joints(arm, sdk):
    arm.move_delta([0.0, 0.0, -0.02], blocking=False)
    arm.stop()
    name, args, _ = [c for c in sdk.robot.calls if c[0] == "robot_write_commands"][-1]
    assert args[0] == "arm"
    np.testing.assert_allclose(args[1], arm.read_state().joint_positions)
