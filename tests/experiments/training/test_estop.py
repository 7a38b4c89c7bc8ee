"""The run's e-stop: `rrl estop RUN`, SIGUSR1 to `rrl train` (and the key in its terminal) stop
every arm of the run. In-flight episodes end with end_reason "estop" and are kept, never
scored; no episode starts until `rrl estop RUN --clear`; the run stays alive, then finishes."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import envs
from experiments.rundir import RunDir
from experiments.training.estop import EStopWatcher, RunEStop
from experiments.training.loop import NORMAL_ENDS
from robots.guarded_arm import KeyboardEStop
from tests.fixtures.train_process import kill_if_running, rrl, start_train, wait_for

# Episodes long enough (several seconds) that the e-stop arrives while they run.
LONG_EPISODES = "env.max_episode_steps=2500"


def test_the_flag_lives_in_control_json_beside_the_pause(tmp_path):
    run = RunDir(tmp_path).create()
    assert not run.estop_requested()
    run.set_paused(True)
    run.set_estop(True)
    run.set_paused(False)  # the operator page's pause button never clears an e-stop
    assert run.estop_requested() and not run.paused()
    run.set_estop(False)
    assert json.loads((tmp_path / "control.json").read_text()) == {"paused": False, "estop": False}
    (tmp_path / "control.json").write_text("{not json")
    assert run.estop_requested()  # unreadable: stop when in doubt


def test_the_sim_twin_stops_stepping_on_estop():
    env = envs.make("widowx", "open_drawer", cameras=())
    env.reset(seed=3)
    env.step(np.full(7, 0.5, np.float32))
    before = env.unwrapped.data.qpos.copy()
    env.unwrapped.set_estop("test")
    for _ in range(2):  # every step until cleared: no physics, the episode ends
        _, _, terminated, truncated, info = env.step(np.ones(7, np.float32))
        assert (terminated, truncated, info["end_reason"]) == (False, True, "estop")
        np.testing.assert_array_equal(env.unwrapped.data.qpos, before)
    assert "estop" not in NORMAL_ENDS
    env.unwrapped.clear_estop()
    env.reset(seed=4)
    _, _, _, truncated, info = env.step(np.zeros(7, np.float32))
    assert not truncated and "end_reason" not in info


class FakeEnv:
    def __init__(self):
        self.estopped, self.reasons = False, []

    def set_estop(self, reason):
        self.estopped = True
        self.reasons.append(reason)

    def clear_estop(self):
        self.estopped = False


def test_the_watcher_estops_its_env_and_holds_the_next_episode(tmp_path):
    run, env = RunDir(tmp_path).create(), FakeEnv()
    watcher = EStopWatcher(run, env, poll_s=0.01)
    try:
        RunEStop(run).set_estop("test")
        deadline = time.monotonic() + 2
        while not env.estopped and time.monotonic() < deadline:
            time.sleep(0.01)
        assert env.estopped and watcher.engaged
        released = threading.Event()
        waiter = threading.Thread(target=lambda: (watcher.wait_until_clear(), released.set()))
        waiter.start()
        assert not released.wait(0.3)  # the next episode waits while the flag is set
        run.set_estop(False)
        assert released.wait(2) and not env.estopped
        waiter.join()
        # An e-stop the env got another way is not the run's to clear.
        env.set_estop("its own signal")
        watcher.wait_until_clear()
        assert env.estopped
    finally:
        watcher.close()


def test_the_estop_key_sets_the_runs_estop(tmp_path):
    run = RunDir(tmp_path).create()
    read_end, write_end = os.pipe()
    with open(read_end) as stream, KeyboardEStop(RunEStop(run), key=" ", stream=stream, poll_s=0.01):
        os.write(write_end, b"x ")
        deadline = time.monotonic() + 2
        while not run.estop_requested() and time.monotonic() < deadline:
            time.sleep(0.01)
    os.close(write_end)
    assert run.estop_requested()


def stored_end_reasons(run: RunDir) -> list[str]:
    return sorted(run.end_reason(eid) for eid in run.episode_ids())



@pytest.mark.parametrize("how", ["rrl estop RUN", "kill -USR1 <rrl train pid>"])
def test_an_estop_stops_every_arm_until_cleared(tmp_path, runs_dir, how):
    run_root = tmp_path / "run"
    process, log = start_train(runs_dir, run_root, "run.episodes=6", "run.env_actors=2", LONG_EPISODES)
    run = RunDir(run_root)
    try:
        # The e-stop comes while both arms are in their second episode: by then both actors are up
        # and compiled, so each starts the episode it is handed at once (an episode handed to an
        # actor still starting up waits for `--clear` instead; the first pair could race that).
        wait_for(lambda: len(run.episode_ids()) == 2, 300, "the first two episodes", process, log)
        wait_for(lambda: run.read_status().get("episodes_collected") == 4, 30, "the next two episodes",
                 process, log)
        # The run names the base policy it started from (what `rrl evaluate --base` loads).
        checkpoint = Path(run.read_config()["pretrain"]["checkpoint"])
        assert checkpoint.parent == (runs_dir / "pretrained").resolve() and (checkpoint / "diffusion").is_dir()
        assert f"rrl train pid {process.pid}: kill -USR1 {process.pid} or rrl estop {run_root}" in log.read_text()
        if how.startswith("rrl estop"):
            result = rrl("estop", str(run_root))
            assert result.returncode == 0, result.stderr
        else:
            os.kill(process.pid, signal.SIGUSR1)
        wait_for(lambda: len(run.episode_ids()) == 4, 60, "the e-stopped episodes", process, log)
        assert stored_end_reasons(run) == ["estop", "estop", "time_limit", "time_limit"]
        stopped = [eid for eid in run.episode_ids() if run.end_reason(eid) == "estop"]
        assert sorted(run.episode_meta(eid)["metadata"]["actor"] for eid in stopped) == [0, 1]  # every arm
        # Stopped, alive, and nothing new starts while the flag is set.
        wait_for(lambda: run.read_status().get("estop") is True, 30, "the status", process, log)
        time.sleep(6)  # longer than the status period: the loop would have launched by now
        assert process.poll() is None
        assert len(run.episode_ids()) == 4 and run.read_status()["episodes_collected"] == 4
        assert not set(stopped) & set(run.scored())  # kept, never scored
        assert rrl("estop", str(run_root), "--clear").returncode == 0
        code = process.wait(timeout=300)
    finally:
        kill_if_running(process)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert "E-STOP" in output and "e-stop cleared" in output
    assert stored_end_reasons(run) == ["estop", "estop"] + ["time_limit"] * 4
    normal = {eid for eid in run.episode_ids() if run.end_reason(eid) in NORMAL_ENDS}
    assert set(run.scored()) == normal
