"""The Franka driver end to end: franky-control talking libfranka's protocol to franky-sim."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

pytest.importorskip("franky", reason="franky-control (the franka extra) is not installed")
pytest.importorskip("franky_sim", reason="franky-sim is not installed")

from robots.arm import ArmConnectionError, ArmFault, IKFailure, MotionRefused  # noqa: E402
from robots.franka import FrankaArm  # noqa: E402
from robots.specs import FRANKA  # noqa: E402
from robots.transforms import franka_fk  # noqa: E402
from tests.fixtures.robot_franky_sim import franky_sim  # noqa: E402

START = np.array([0.45, 0.0, 0.3])


@pytest.fixture(scope="module")
def sim():
    with franky_sim() as handle:
        yield handle


@pytest.fixture(scope="module")
def arm(sim):
    with FrankaArm(sim.hostname, relative_dynamics_factor=0.4, motion_timeout_s=10.0) as arm:
        arm.home()
        yield arm


@pytest.fixture()
def at_start(arm):
    if arm.read_state().errors:
        arm.recover()
    arm.move_to_pose(START, np.zeros(3))
    return arm


def test_home_reaches_the_ready_pose_and_fk_agrees(arm):
    arm.home()
    state = arm.read_state()
    # franky-sim's joint servos sag about 0.013 rad under gravity at the ready pose.
    np.testing.assert_allclose(state.joint_positions, FRANKA.home_joints, atol=0.02)
    np.testing.assert_allclose(state.ee_position, [0.307, 0.0, 0.487], atol=0.003)
    np.testing.assert_allclose(state.ee_rpy_offset, 0.0, atol=0.01)  # gripper down
    # Our DH table (used for the IK check) against the simulated robot's own kinematics; the
    # sim reports the pose of the commanded joints, so compare at the commanded home.
    fk = franka_fk(FRANKA.home_joints)
    np.testing.assert_allclose(fk[:3, 3], state.ee_position, atol=0.001)
    assert state.errors == () and 0.0 <= state.gripper_width <= FRANKA.gripper_max


def test_move_delta_moves_by_the_delta_in_the_base_frame(at_start):
    arm = at_start
    before = arm.read_state().ee_position
    arm.move_delta([0.03, -0.02, -0.04], [0.0, 0.0, 0.15])
    after = arm.read_state()
    np.testing.assert_allclose(after.ee_position - before, [0.03, -0.02, -0.04], atol=0.002)
    np.testing.assert_allclose(after.ee_rpy_offset, [0.0, 0.0, 0.15], atol=0.01)


def test_asynchronous_motion_is_joined_before_the_next_command(at_start):
    arm = at_start
    arm.move_to_pose(START + [0.0, 0.05, 0.0], np.zeros(3), blocking=False)
    arm.move_to_pose(START + [0.0, 0.05, -0.05], np.zeros(3))
    np.testing.assert_allclose(arm.read_state().ee_position, START + [0, 0.05, -0.05], atol=0.002)


def test_step_larger_than_the_spec_is_refused_without_moving(at_start):
    arm = at_start
    with pytest.raises(MotionRefused, match="exceeds"):
        arm.move_delta([0.2, 0.0, 0.0])
    with pytest.raises(MotionRefused, match="workspace"):
        arm.move_to_pose([0.45, 0.0, -0.1], np.zeros(3))
    np.testing.assert_allclose(arm.read_state().ee_position, START, atol=0.002)


def test_gripper_grasps_and_opens(arm):
    arm.close_gripper()
    assert arm.read_state().gripper_width < 0.01
    arm.open_gripper()
    assert arm.read_state().gripper_width > FRANKA.gripper_max - 0.005


def test_unreachable_target_raises_ik_failure_and_the_arm_holds(at_start, monkeypatch):
    arm = at_start
    # The spec's box is all reachable; widen it so the IK check is what refuses the target.
    monkeypatch.setattr(arm, "spec", dataclasses.replace(FRANKA, workspace_high=(0.9, 0.4, 0.6)))
    corner = [0.85, 0.35, 0.01]  # beyond the reach with the gripper pointing down
    with pytest.raises(IKFailure, match="no joint solution"):
        arm.move_to_pose(corner, np.zeros(3))
    np.testing.assert_allclose(arm.read_state().ee_position, START, atol=0.002)
    arm.move_delta([0.0, 0.0, -0.02])  # still usable
    np.testing.assert_allclose(arm.read_state().ee_position, START + [0, 0, -0.02], atol=0.002)


def test_reflex_aborts_the_motion_and_recover_clears_it(sim, at_start):
    arm = at_start
    arm.move_to_pose(START + [0.0, 0.0, -0.1], np.zeros(3), blocking=False)
    time.sleep(0.1)
    sim.trigger_reflex()
    with pytest.raises(ArmFault, match="reflex") as caught:
        arm.move_to_pose(START, np.zeros(3))
    assert "cartesian_reflex" in caught.value.errors
    assert "cartesian_reflex" in arm.read_state().errors
    with pytest.raises(MotionRefused, match="rejected"):  # the robot refuses until recovery
        arm.move_to_pose(START, np.zeros(3))
    arm.recover()
    assert arm.read_state().errors == ()
    arm.move_to_pose(START, np.zeros(3))
    np.testing.assert_allclose(arm.read_state().ee_position, START, atol=0.002)


def test_force_reaction_stops_the_motion(at_start):
    arm = at_start
    arm.force_limit_n = 0.0  # any estimated external force: a contact
    try:
        with pytest.raises(ArmFault, match="external force") as caught:
            arm.move_delta([0.0, 0.0, -0.03])
        assert caught.value.errors == ("contact",)
        assert "contact" in arm.read_state().errors
        with pytest.raises(MotionRefused, match="contact"):
            arm.move_delta([0.0, 0.0, -0.01])
    finally:
        arm.force_limit_n = 30.0
    arm.recover()
    arm.move_to_pose(START, np.zeros(3))
    assert arm.read_state().errors == ()


def test_stop_ends_a_motion_early_without_a_fault(at_start):
    arm = at_start
    arm.move_to_pose(START + [0.0, -0.1, 0.0], np.zeros(3), blocking=False)
    time.sleep(0.05)
    arm.stop()
    arm.move_delta([0.0, 0.0, 0.0])  # the preempted motion is not reported as a fault
    assert arm.read_state().errors == ()
    assert arm.read_state().ee_position[1] > START[1] - 0.095


def test_no_robot_at_the_address_is_a_clear_connection_error(sim):
    with pytest.raises(ArmConnectionError, match=r"no robot answers at 127\.0\.0\.1:1"):
        # A closed port on 127.0.0.1 stands in for an address with no robot behind it.
        from robots import franka

        original, franka.FCI_PORT = franka.FCI_PORT, 1
        try:
            FrankaArm("127.0.0.1", connect_timeout_s=1.0)
        finally:
            franka.FCI_PORT = original


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="ip"):
        FrankaArm("")
    with pytest.raises(ValueError, match="relative_dynamics_factor"):
        FrankaArm("127.0.0.1", relative_dynamics_factor=2.0)
