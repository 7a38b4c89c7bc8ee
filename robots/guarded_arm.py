"""E-stop, watchdog and the guarded arm: the runtime half of the safety layer.

    safety = SafetyLayer(spec, log_path=run_dir / "safety.jsonl")
    install_signal_estop(safety)                       # `kill -USR1 <pid>` stops the arm
    with GuardedArm(arm, safety, command_timeout_s=1.0) as guarded, KeyboardEStop(safety):
        guarded.start_episode()
        for action in actions:
            target, events = guarded.step(action)      # every motion goes through filter_delta
        guarded.end_episode()

The watchdog thread stops the arm (arm.stop()) when an armed channel goes quiet: "command"
(no step within command_timeout_s during an episode) or "learner" (kick_learner() not called
within learner_timeout_s), and as soon as the e-stop is set by a key or a signal. A stop() that
raises (anything) is logged and tried again, with a back-off capped at retry_max_s, until it
succeeds; the thread never dies of it. After a trip every step raises until `reset()`; the e-stop
must be cleared explicitly (`safety.clear_estop()`). Every step also solves the target's joints
(`arm.solve_ik`) and refuses, with MotionRefused, a target inside the spec's joint-limit margins.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import threading
import time

from robots.arm import Arm, ArmError, ArmFault, MotionRefused
from robots.safety import SafeTarget, SafetyEvent, SafetyLayer

__all__ = [
    "EmergencyStop",
    "WatchdogTripped",
    "install_signal_estop",
    "KeyboardEStop",
    "Watchdog",
    "GuardedArm",
]

log = logging.getLogger(__name__)


class EmergencyStop(ArmError):
    """The e-stop is active: no motion until it is cleared."""


class WatchdogTripped(ArmError):
    """The watchdog stopped the arm (commands or learner contact stopped arriving)."""


def install_signal_estop(safety: SafetyLayer, signum: int = signal.SIGUSR1):
    """Makes `signum` set the e-stop (main thread only); returns the previous handler."""

    def handler(received, _frame):
        safety.set_estop(f"signal {signal.Signals(received).name}")

    return signal.signal(signum, handler)


class KeyboardEStop:
    """A thread that sets the e-stop when `key` arrives on `stream` (a tty is put in cbreak mode).

    `safety` is a SafetyLayer or anything with `set_estop(reason)` (`rrl train` passes its run's
    e-stop). A tty is read only while this process is in its foreground: a background job that
    read it would be stopped.
    """

    def __init__(self, safety: SafetyLayer, key: str = " ", stream=None, poll_s: float = 0.05):
        if len(key) != 1:
            raise ValueError(f"KeyboardEStop: key must be one character, got {key!r}")
        self.safety, self.key, self.poll_s = safety, key, poll_s
        self.stream = sys.stdin if stream is None else stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_tty = None

    def __enter__(self):
        fd = self.stream.fileno()
        if os.isatty(fd):
            import termios
            import tty

            self._saved_tty = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        self._thread = threading.Thread(target=self._run, name="keyboard-estop", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        fd = self.stream.fileno()
        while not self._stop.is_set():
            if self._saved_tty is not None and os.tcgetpgrp(fd) != os.getpgrp():
                self._stop.wait(self.poll_s)  # in the background: the key is not ours to read
                continue
            ready, _, _ = select.select([fd], [], [], self.poll_s)
            if not ready:
                continue
            data = os.read(fd, 64).decode(errors="replace")
            if not data:  # the stream closed: nothing more can arrive
                return
            if self.key in data:
                self.safety.set_estop(f"key {self.key!r}")

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.poll_s + 1.0)
        if self._saved_tty is not None:
            import termios

            # SIGTTOU blocked: a job moved to the background may still restore its terminal.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
            try:
                termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved_tty)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class Watchdog:
    """Calls `on_trip(reason)` when a channel is stale or the e-stop is set, until it succeeds.

    A trip is reported once; an `on_trip` that raises is retried after poll_s, then twice as long
    each time up to retry_max_s, so a stop() that fails now and then still stops the arm.
    """

    def __init__(
        self,
        safety: SafetyLayer,
        on_trip,
        timeouts: dict[str, float],
        poll_s: float = 0.02,
        retry_max_s: float = 1.0,
    ):
        for name, seconds in {**timeouts, "poll_s": poll_s, "retry_max_s": retry_max_s}.items():
            if not seconds > 0:
                raise ValueError(f"Watchdog: {name} must be positive seconds, got {seconds}")
        self.safety, self.on_trip, self.timeouts = safety, on_trip, dict(timeouts)
        self.poll_s, self.retry_max_s = poll_s, retry_max_s
        self._last: dict[str, float] = {}
        self._armed: set[str] = set()
        self._lock = threading.Lock()
        self.tripped: str | None = None
        self._retry_at: float | None = None  # when to call on_trip again; None = nothing owed
        self._failures = 0
        self._generation = 0  # bumped by reset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arm-watchdog", daemon=True)
        self._thread.start()

    def arm(self, channel: str) -> None:
        with self._lock:
            self._armed.add(channel)
            self._last[channel] = time.monotonic()

    def disarm(self, channel: str) -> None:
        with self._lock:
            self._armed.discard(channel)

    def kick(self, channel: str) -> None:
        with self._lock:
            self._last[channel] = time.monotonic()

    def reset(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._last = {name: now for name in self._last}
            self.tripped, self._retry_at, self._failures = None, None, 0
            self._generation += 1  # a stop() in flight now does not re-arm its retry

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _stale(self) -> str | None:
        """The reason a channel is stale, or None; the caller holds the lock."""
        now = time.monotonic()
        for channel in sorted(self._armed):
            age = now - self._last.get(channel, now)
            if age > self.timeouts[channel]:
                return f"no {channel} for {age:.2f} s (limit {self.timeouts[channel]} s)"
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._poll()
            except Exception:  # the watching must outlive any fault in one poll
                log.exception("%s: watchdog: a check failed; still watching", self.safety.spec.name)

    def _poll(self) -> None:
        now = time.monotonic()
        with self._lock:
            new_trip = self.tripped is None
            if new_trip:
                estop = self.safety.estop_reason
                reason = f"e-stop: {estop}" if estop is not None else self._stale()
                if reason is None:
                    return
                self.tripped, self._retry_at = reason, now
            if self._retry_at is None or now < self._retry_at:
                return
            reason, generation = self.tripped, self._generation
        if new_trip:
            self.safety.record([SafetyEvent("watchdog", f"arm stopped: {reason}")])
        try:
            self.on_trip(reason)
        except Exception as e:  # whatever stop() raises, the arm must still be stopped: retry
            with self._lock:
                delay = min(self.retry_max_s, self.poll_s * 2 ** min(self._failures, 30))
                if generation == self._generation:
                    self._failures += 1
                    self._retry_at = time.monotonic() + delay
            log.error(
                "%s: watchdog: stopping the arm failed (%s: %s); retrying in %.2f s",
                self.safety.spec.name, type(e).__name__, e, delay,
            )  # fmt: skip
            return
        with self._lock:
            if generation == self._generation:
                self._retry_at, self._failures = None, 0

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0 + self.poll_s)


class GuardedArm:
    """An Arm that only moves through the SafetyLayer, under a watchdog."""

    def __init__(
        self,
        arm: Arm,
        safety: SafetyLayer,
        *,
        command_timeout_s: float = 2.0,
        learner_timeout_s: float | None = None,
        blocking: bool = False,
    ):
        self.arm, self.safety, self.blocking = arm, safety, blocking
        timeouts = {"command": command_timeout_s}
        if learner_timeout_s is not None:
            timeouts["learner"] = learner_timeout_s
        self.watchdog = Watchdog(safety, lambda _reason: arm.stop(), timeouts)
        if learner_timeout_s is not None:
            self.watchdog.arm("learner")

    def _check(self) -> None:
        if self.safety.estopped:
            raise EmergencyStop(f"{self.arm.spec.name}: e-stop active ({self.safety.estop_reason})")
        if self.watchdog.tripped is not None:
            raise WatchdogTripped(
                f"{self.arm.spec.name}: watchdog stopped the arm: {self.watchdog.tripped}"
            )

    def start_episode(self) -> None:
        self._check()
        self.watchdog.arm("command")

    def end_episode(self) -> None:
        self.watchdog.disarm("command")

    def kick_learner(self) -> None:
        self.watchdog.kick("learner")

    def step(self, action, reference=None) -> tuple[SafeTarget, list[SafetyEvent]]:
        """Filters `action` and starts the motion; returns the target and this step's events.

        `reference` (position, rpy_offset) is the pose the delta applies to: by default the
        measured pose; an env that accumulates commanded targets (as the sim twins do) passes
        its previous target. Raises EmergencyStop / WatchdogTripped, ArmFault when the arm
        reports errors, MotionRefused when the target's joints (arm.solve_ik) fall inside the
        joint-limit margins, and whatever the arm raises for the motion (MotionRefused, IKFailure,
        ...). A refused action (NaN, wrong shape) leaves the arm where it is.
        """
        self._check()
        state = self.arm.read_state()
        if state.errors:
            raise ArmFault(f"{self.arm.spec.name}: arm reports {list(state.errors)}", state.errors)
        self.safety.check_joints(state.joint_positions)  # logged: refusing traps the arm there
        pos, rpy = reference if reference is not None else (state.ee_position, state.ee_rpy_offset)
        target, events = self.safety.filter_delta(pos, rpy, action)
        self.watchdog.kick("command")
        if target.refused:
            return target, events
        self._refuse_joint_margins(target)
        self.arm.move_to_pose(target.position, target.rpy_offset, blocking=self.blocking)
        if target.gripper is not None:
            self.arm.set_gripper(target.gripper, blocking=self.blocking)
        self._check()  # an e-stop during the call: the watchdog has stopped the arm
        return target, events

    def _refuse_joint_margins(self, target: SafeTarget) -> None:
        """Raises MotionRefused when the target's joint solution is inside a joint-limit margin.

        Refused rather than clipped: clipped joints reach a pose nobody asked for (and that the
        workspace box never checked), and the Franka takes Cartesian targets, not joints.
        """
        joints = self.arm.solve_ik(target.position, target.rpy_offset)
        events = self.safety.check_joints(joints, which="target")
        if events:
            reasons = "; ".join(event.message for event in events)
            raise MotionRefused(f"{self.arm.spec.name}: {reasons}: refused, the arm holds")

    def reset(self) -> None:
        """Re-arms after a watchdog trip (the e-stop is cleared separately)."""
        self._check_estop_only()
        self.watchdog.reset()

    def _check_estop_only(self) -> None:
        if self.safety.estopped:
            raise EmergencyStop(f"{self.arm.spec.name}: e-stop active ({self.safety.estop_reason})")

    def close(self) -> None:
        self.watchdog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
