"""The run's e-stop: `rrl estop RUN_DIR`, SIGUSR1 to `rrl train`, or the space bar in its terminal.

    rrl estop runs/widowx_open_drawer_dsrl-20261126-101500           # every arm of the run stops
    rrl estop runs/widowx_open_drawer_dsrl-20261126-101500 --clear   # collection goes on

One flag in the run's control.json carries it (RunDir.set_estop). `rrl estop`, the train
process's SIGUSR1 handler and its keyboard thread set it; every env actor of the run polls it
every ESTOP_POLL_S (EStopWatcher) and e-stops its env: the sim twin stops stepping, a real arm's
safety layer sets its e-stop and the watchdog stops the arm. The running episodes end with
end_reason "estop" and are kept, never scored; the loop starts no episode while the flag is set
(also after a resume), and the run stays alive until the flag is cleared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from experiments.rundir import RunDir
from robots.guarded_arm import KeyboardEStop

__all__ = ["ESTOP_KEY", "ESTOP_POLL_S", "RunEStop", "EStopWatcher", "operator_estop", "main"]

ESTOP_KEY = " "  # the space bar in the `rrl train` terminal
ESTOP_POLL_S = 0.05  # how often an env actor reads the flag: the arm stops within about this


class RunEStop:
    """Sets the run's e-stop flag: what SIGUSR1 and the keyboard thread of `rrl train` call (the
    `set_estop(reason)` that KeyboardEStop expects of a safety layer)."""

    def __init__(self, run: RunDir):
        self.run = run

    def set_estop(self, reason: str) -> None:
        try:
            self.run.set_estop(True)
        except OSError as error:  # may run in a signal handler: os.write, never raise
            os.write(2, f"rrl train: e-stop ({reason}) could not be written: {error}; "
                        f"use the hardware e-stop\n".encode())


def _owns_terminal() -> bool:
    """Whether stdin is a terminal this process reads in the foreground (a background job that
    read it would be stopped by SIGTTIN)."""
    try:
        fd = sys.stdin.fileno()
        return os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def operator_estop(run: RunDir) -> Iterator[None]:
    """Within, SIGUSR1 to this process (main thread only) and the space bar in its terminal (when
    stdin is one) set the e-stop of `run`; prints how."""
    target = RunEStop(run)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGUSR1, lambda _signum, _frame: target.set_estop("signal SIGUSR1"))
    on_terminal = _owns_terminal()
    keyboard = KeyboardEStop(target, key=ESTOP_KEY) if on_terminal else contextlib.nullcontext()
    pid = os.getpid()
    key = ", as does the space bar here" if on_terminal else ""
    print(f"rrl train pid {pid}: kill -USR1 {pid} or rrl estop {run.root} stops every arm{key} "
          f"(rrl estop {run.root} --clear resumes)", flush=True)
    try:
        with keyboard:
            yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGUSR1, previous)


class EStopWatcher:
    """An env actor's thread: e-stops `env` (its `set_estop(reason)`) as soon as the run's flag
    is set. `wait_until_clear()` holds the next episode until the flag is cleared, then clears
    the env's e-stop, if this watcher set it: one set another way is not the run's to clear."""

    REASON = "the run's e-stop (rrl estop, SIGUSR1 or the e-stop key)"

    def __init__(self, run: RunDir, env, poll_s: float = ESTOP_POLL_S):
        self.run, self.env, self.poll_s = run, env, poll_s
        self._lock = threading.Lock()
        self._engaged = False  # this watcher set the env's e-stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-estop", daemon=True)
        self._thread.start()

    @property
    def engaged(self) -> bool:
        return self._engaged

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            with self._lock:
                if not self._engaged and self.run.estop_requested():
                    self.env.set_estop(self.REASON)
                    self._engaged = True

    def wait_until_clear(self) -> None:
        """Blocks while the run's e-stop is set, then clears the env's e-stop that it caused."""
        while self.run.estop_requested():
            time.sleep(self.poll_s)
        with self._lock:
            if self._engaged:
                self.env.clear_estop()
                self._engaged = False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0 + self.poll_s)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rrl estop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the run directory of the `rrl train` to stop")
    parser.add_argument("--clear", action="store_true", help="clear the e-stop: collection goes on")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir)
    try:
        run.check()
    except FileNotFoundError as error:
        print(f"rrl estop: {error}", file=sys.stderr)
        return 2
    run.set_estop(not args.clear)
    if args.clear:
        print(f"e-stop cleared for {run.root}: the run starts episodes again (a real arm moves "
              "again at its next reset)")
        return 0
    print(f"e-stop set for {run.root}: every env actor of the run stops its arm within "
          f"{ESTOP_POLL_S:.2f} s; running episodes end with end_reason 'estop' and are kept, not "
          f"scored; nothing moves until `rrl estop {run.root} --clear`")
    age = time.time() - float(run.read_status().get("updated_at", 0.0))
    if age > 30:
        print(f"rrl estop: no `rrl train` has updated {run.root} for {age:.0f} s; the e-stop stays "
              "set and a resumed run starts stopped", file=sys.stderr)
    return 0
