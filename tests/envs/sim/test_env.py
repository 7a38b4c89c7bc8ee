"""The sim twins: gymnasium conformance, seeding, rendering, kinematics and bad input."""

import itertools
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.sim.env import STATE_FIELDS
from envs.sim.experts import make_expert
from envs.sim.models import OBJECT_HALF, cloth_half
from envs.tasks import CLOTH_COLOURS

ALL_ENVS = [
    (robot, task) for robot in ("franka", "widowx")
    for task in ("pick_place", "pick_place_multi", "open_drawer")
]


@pytest.mark.parametrize(("robot", "task"), ALL_ENVS)
def test_gymnasium_env_checker_passes(robot, task):
    env = envs.make(robot, task, cameras=("front", "wrist"), image_size=(64, 64))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    env.close()
    messages = [str(w.message) for w in caught]
    if task == "open_drawer":
        assert messages == []
    else:  # the free object's position is unbounded (see the next test); nothing else is
        assert messages and all("infinity" in m for m in messages), messages


FIELD_SIZES = {"object_quat": 4, "drawer_opening": 1}  # every other state field is a 3-vector


@pytest.mark.parametrize(("robot", "task"), ALL_ENVS)
def test_only_the_free_object_is_unbounded(robot, task):
    space = envs.make(robot, task, cameras=()).observation_space
    assert np.all(np.isfinite(space["proprio"].low)) and np.all(np.isfinite(space["proprio"].high))
    bounded, start = {}, 0
    for field in STATE_FIELDS[task]:
        end = start + FIELD_SIZES.get(field, 3)
        low, high = space["state"].low[start:end], space["state"].high[start:end]
        bounded[field] = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        start = end
    assert start == space["state"].shape[0]
    # It can leave the table.
    unbounded = {"object_pos", "object_minus_tcp", "cloth_minus_object", "nearest_cloth_minus_object",
                 "object_minus_start",
                 *(f"{colour}_cloth_minus_object" for colour in CLOTH_COLOURS)}
    assert bounded == {field: field not in unbounded for field in STATE_FIELDS[task]}


@pytest.mark.parametrize(("robot", "task"), ALL_ENVS)
def test_observations_stay_within_the_declared_space(robot, task):
    env = envs.make(robot, task, cameras=("wrist",), image_size=(32, 32), max_episode_steps=40)
    env.action_space.seed(0)
    press = np.array([0, 0, -1, 0, 0, 0, -1], np.float32)  # pushes fingers past their soft limits
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    for step in range(40):
        action = env.action_space.sample() if step < 10 or step >= 25 else press
        obs, *_ = env.step(action)
        assert obs in env.observation_space, (step, obs["proprio"], obs["state"])
    env.close()


@pytest.mark.parametrize(
    ("gym_id", "robot", "task"),
    [
        ("rrl/FrankaPickPlace-v0", "franka", "pick_place"),
        ("rrl/FrankaOpenDrawer-v0", "franka", "open_drawer"),
        ("rrl/WidowXPickPlace-v0", "widowx", "pick_place"),
        ("rrl/WidowXOpenDrawer-v0", "widowx", "open_drawer"),
        ("rrl/FrankaPickPlaceMulti-v0", "franka", "pick_place_multi"),
        ("rrl/WidowXPickPlaceMulti-v0", "widowx", "pick_place_multi"),
    ],
)
def test_gymnasium_ids_accept_make_kwargs(gym_id, robot, task):
    env = gymnasium.make(
        gym_id, cameras=("wrist",), image_size=(48, 64), control_hz=5, max_episode_steps=3, seed=0
    )
    obs, info = env.reset()
    assert env.unwrapped.robot == robot and env.unwrapped.task_name == task
    assert set(obs["images"]) == {"wrist"} and obs["images"]["wrist"].shape == (48, 64, 3)
    assert env.unwrapped.n_substeps == 40  # 5 Hz control over 5 ms physics steps
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    # gymnasium.make consumes max_episode_steps itself (its TimeLimit wrapper truncates).
    assert truncated and not terminated
    assert reward == 0.0
    env.close()


def test_observation_layout_matches_design():
    env = envs.make("franka", "pick_place", cameras=())
    obs, info = env.reset(seed=0)
    assert "images" not in obs
    assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (8 + 7,)
    assert obs["state"].dtype == np.float32 and obs["state"].shape == (16,)
    # object pose (7), cloth (3), then object - TCP and cloth - object
    state, tcp = obs["state"], obs["proprio"][:3]
    np.testing.assert_allclose(state[10:13], state[:3] - tcp, atol=1e-6)
    np.testing.assert_allclose(state[13:16], state[7:10] - state[:3], atol=1e-6)
    assert info["task"].startswith("put the ") and info["task"].endswith(" on the cloth")
    assert info["progress_score"] == 1 and info["is_success"] is False
    drawer = envs.make("widowx", "open_drawer", cameras=())
    obs, info = drawer.reset(seed=0)
    assert obs["proprio"].shape == (8 + 6,) and obs["state"].shape == (7,)
    np.testing.assert_allclose(obs["state"][4:7], obs["state"][1:4] - obs["proprio"][:3], atol=1e-6)
    assert info["task"] == "open the drawer"


@pytest.mark.parametrize("robot", ["franka", "widowx"])
def test_multi_cloth_scene_starts_the_object_off_every_cloth_with_a_clear_carry_to_each(robot):
    env = envs.make(robot, "pick_place_multi", cameras=())
    half = np.array(cloth_half(robot, "pick_place_multi"))
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        state = obs["state"]
        # object pose (7), cloths in colour order (9), object - TCP (3), cloth - object each (9),
        # then the nearest cloth's - object, and the object - its start (zero at reset)
        np.testing.assert_array_equal(state[31:34], np.zeros(3))
        to_cloths = state[19:28].reshape(3, 3)
        np.testing.assert_allclose(to_cloths, state[7:16].reshape(3, 3) - state[:3], atol=1e-6)
        nearest = np.argmin(np.linalg.norm(to_cloths[:, :2], axis=1))
        np.testing.assert_array_equal(state[28:31], to_cloths[nearest])
        # Clear of every cloth by 4 cm, as in pick_place: next to one, the cloned policy let go.
        gaps = np.abs(to_cloths[:, :2]) - half - OBJECT_HALF
        assert np.all(gaps.max(axis=1) > 0.04 - 1e-3), (seed, gaps)
        # A straight carry to any cloth passes over no other cloth (sampled along the way).
        obj, cloths = state[:2], state[7:16].reshape(3, 3)[:, :2]
        path = np.linspace(0.0, 1.0, 200)[:, None]
        for i, j in itertools.permutations(range(3), 2):
            carried = obj + path * (cloths[i] - obj)
            over = np.all(np.abs(carried - cloths[j]) < half + OBJECT_HALF, axis=1)
            assert not over.any(), (seed, i, j)
    env.close()


def test_multi_cloth_state_follows_the_carry_from_the_object_start():
    env = envs.make("widowx", "pick_place_multi", cameras=())
    obs, _ = env.reset(seed=3)
    start = obs["state"][:3].copy()
    expert = make_expert(env.unwrapped, noise=0.0, seed=0, cloth=2)
    moved = 0.0
    for _ in range(60):
        obs, *_ = env.step(expert.act(obs))
        np.testing.assert_allclose(obs["state"][31:34], obs["state"][:3] - start, atol=1e-6)
        moved = max(moved, float(np.linalg.norm(obs["state"][31:33])))
    assert moved > 0.05  # the expert carried it off toward the blue cloth
    env.close()


@pytest.mark.parametrize(("robot", "task"), ALL_ENVS)
def test_same_seed_gives_identical_rollouts(robot, task):
    def rollout(seed):
        env = envs.make(robot, task, cameras=("front",), image_size=(32, 32))
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(123)
        trace = [obs["state"], obs["images"]["front"]]
        for _ in range(15):
            obs, *_ = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
            trace += [obs["proprio"], obs["state"], obs["images"]["front"]]
        env.close()
        return trace

    first, second, other = rollout(7), rollout(7), rollout(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not np.array_equal(first[0], other[0])  # another seed places the scene elsewhere


@pytest.mark.parametrize(("robot", "task"), ALL_ENVS)
def test_both_cameras_render_non_blank_images(robot, task):
    env = envs.make(robot, task, image_size=(96, 96))
    obs, _ = env.reset(seed=0)
    for camera in ("front", "wrist"):
        image = obs["images"][camera]
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8
        assert image.std() > 10, f"{camera} image looks blank"
    assert not np.array_equal(obs["images"]["front"], obs["images"]["wrist"])
    env.close()


def test_published_kinematics():
    franka = envs.make("franka", "pick_place", cameras=()).unwrapped.controller
    pos, rot = franka.forward_kinematics(
        np.array([0, -np.pi / 4, 0, -3 * np.pi / 4, 0, np.pi / 2, np.pi / 4])
    )
    np.testing.assert_allclose(pos, [0.307, 0.0, 0.487], atol=2e-3)  # the "ready" pose
    np.testing.assert_allclose(rot[:, 2], [0, 0, -1], atol=1e-6)  # pointing down
    widowx = envs.make("widowx", "pick_place", cameras=()).unwrapped.controller
    pos, _ = widowx.forward_kinematics(np.zeros(6))
    np.testing.assert_allclose(pos, [0.458, 0.0, 0.361], atol=2e-3)  # ee_gripper at "home"


def test_delta_actions_move_the_tcp_by_the_scaled_step():
    env = envs.make("widowx", "pick_place", cameras=())
    obs, _ = env.reset(seed=0)
    start = obs["proprio"][:3].copy()
    for _ in range(3):
        obs, *_ = env.step(np.array([0, 0.5, 0, 0, 0, 0, 1], np.float32))
    for _ in range(3):  # let the servos settle
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1], np.float32))
    moved = obs["proprio"][:3] - start
    np.testing.assert_allclose(moved, [0, 3 * 0.5 * 0.05, 0], atol=4e-3)


def test_gripper_command_opens_and_closes():
    env = envs.make("franka", "pick_place", cameras=())
    obs, _ = env.reset(seed=0)
    assert obs["proprio"][7] == pytest.approx(0.08, abs=2e-3)
    for _ in range(5):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1], np.float32))
    assert obs["proprio"][7] < 0.005


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (np.zeros(6), "shape"),
        (np.zeros((1, 7)), "shape"),
        (np.array([0, 0, np.nan, 0, 0, 0, 1]), "NaN"),
        (np.array([0, np.inf, 0, 0, 0, 0, 1]), "NaN or inf"),
    ],
)
def test_bad_actions_raise_clear_errors(action, message):
    env = envs.make("widowx", "pick_place", cameras=())
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_unknown_names_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown robot 'ur5'"):
        envs.make("ur5", "pick_place")
    with pytest.raises(ValueError, match="unknown task 'stack'"):
        envs.make("franka", "stack")
    with pytest.raises(ValueError, match="unknown backend"):
        envs.make("franka", "pick_place", backend="gazebo")
    with pytest.raises(ValueError, match="unknown camera"):
        envs.make("franka", "pick_place", cameras=("top",))


def test_out_of_range_actions_are_clipped_and_flagged():
    env = envs.make("widowx", "pick_place", cameras=())
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([3, 0, 0, 0, 0, 0, 1], np.float32))
    assert info["action_clipped"]


def test_targets_outside_the_workspace_are_clipped_and_flagged():
    env = envs.make("widowx", "pick_place", cameras=())
    obs, _ = env.reset(seed=0)
    spec = env.unwrapped.spec_arm
    for _ in range(20):  # push down into the table
        obs, _, _, _, info = env.step(np.array([0, 0, -1, 0, 0, 0, 1], np.float32))
    assert info["workspace_clipped"]
    assert obs["proprio"][2] >= spec.workspace_low[2] - 5e-3
    assert np.all(np.isfinite(obs["proprio"]))


def test_unreachable_targets_are_held_at_the_reach_and_flagged():
    env = envs.make("franka", "pick_place", cameras=())
    env.reset(seed=0)
    flags = []
    for _ in range(25):  # far and low: beyond what the arm can reach pointing down
        _, _, _, _, info = env.step(np.array([1, 1, -1, 0, 0, 0, 1], np.float32))
        flags.append(info["unreachable"] or info["joint_limited"])
    controller = env.unwrapped.controller
    assert any(flags)
    reached, _ = controller.forward_kinematics(controller.q_target)
    assert np.linalg.norm(reached - controller.target_pos) < 0.01  # the target did not run away


def test_terminate_on_success_ends_the_episode():
    env = envs.make("widowx", "open_drawer", cameras=(), terminate_on_success=True)
    expert = make_expert(env)
    obs, _ = env.reset(seed=0)
    for steps in range(1, env.unwrapped.max_episode_steps + 1):  # noqa: B007 (read after)
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert terminated and info["is_success"] and info["end_reason"] == "success"
    assert steps < env.unwrapped.max_episode_steps
