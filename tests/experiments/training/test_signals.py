"""SIGTERM or Ctrl-C to `rrl train`: a clean stop. Collection stops, every stored episode stays
intact, Ray is shut down with no native crash dump, no process is left behind, the exit code is
128 + the signal's number, and the output names the command that resumes the run."""

import os
import signal

import psutil
import pytest

import envs
from experiments.rundir import RunDir
from experiments.training.interrupts import RunInterrupted, interrupts_stop_the_run
from tests.fixtures.train_process import (
    alive,
    kill_if_running,
    start_train,
    wait_for,
    wait_until_gone,
)


@pytest.mark.parametrize("how", ["SIGTERM to the process", "Ctrl-C to its process group"])
def test_a_signal_stops_the_run_cleanly(tmp_path, runs_dir, how):
    run_root = tmp_path / "run"
    process, log = start_train(runs_dir, run_root, "run.episodes=50")
    run = RunDir(run_root)
    try:
        wait_for(lambda: len(run.episode_ids()) >= 3, 300, "3 stored episodes", process, log)
        stored = run.episode_ids()
        started = psutil.Process(process.pid).children(recursive=True)
        assert any(p.name() == "raylet" for p in started)
        if how.startswith("SIGTERM"):
            os.kill(process.pid, signal.SIGTERM)
            expected_code = 128 + signal.SIGTERM
        else:
            os.killpg(process.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
            expected_code = 128 + signal.SIGINT
        code = process.wait(timeout=60)
    finally:
        kill_if_running(process)
    output = log.read_text()
    assert code == expected_code, output[-3000:]
    assert f"rrl train --resume {run_root}" in output
    assert "SIGTERM received" not in output and "SIGINT received" not in output
    assert "Traceback" not in output, output[-3000:]
    # Everything stored before the signal is still there and readable.
    after = run.episode_ids()
    assert set(stored) <= set(after)
    for eid in after:
        assert envs.Episode.load(run.episode_path(eid), with_video=False).num_steps > 0
    # No process of the run is left: not Ray's daemons, agents or workers, not the reaper.
    left = wait_until_gone(started, timeout_s=20)
    assert [(p.pid, p.name()) for p in left] == []
    group = [p for p in psutil.process_iter() if _pgid(p.pid) == process.pid]
    assert alive(group) == []


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_a_signal_inside_rays_native_wait_is_the_same_clean_stop():
    """Ctrl-C while the driver sits in `ray.wait` surfaces as a SystemError caused by our
    RunInterrupted (seen on a real run); it must stop the run like any other signal."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _stop_inside_native_wait()
    finally:  # a stopped run keeps its "already stopping" handlers; pytest's must come back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _stop_inside_native_wait():
    with pytest.raises(RunInterrupted) as stopped, interrupts_stop_the_run():
        try:
            raise RunInterrupted(signal.SIGINT)
        except RunInterrupted as cause:
            raise SystemError("<cyfunction CoreWorker.wait> returned a result with an exception set") from cause
    assert stopped.value.exit_code == 130
    with pytest.raises(SystemError), interrupts_stop_the_run():
        raise SystemError("unrelated")  # anything else is not swallowed
