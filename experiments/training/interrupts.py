"""SIGTERM and Ctrl-C to `rrl train`: a clean stop instead of Ray's native crash dump.

    with interrupts_stop_the_run():     # after ray.init, whose own SIGTERM handler dumps a stack
        training.loop()                 # SIGTERM / SIGINT raise RunInterrupted here

`rrl train` then stops collecting (the actors are killed: an episode in progress was never
stored, every stored one stays as it is), shuts Ray down and exits with 128 + the signal's number
(143 for SIGTERM, 130 for Ctrl-C), printing the command that resumes the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["RunInterrupted", "interrupts_stop_the_run", "STOP_SIGNALS"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class RunInterrupted(BaseException):
    """SIGTERM or SIGINT reached the run. A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` on the way swallows it."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"stopped by {self.signal_name}")

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def _already_stopping(signum: int, _frame) -> None:
    # os.write, not print: a handler may run in the middle of another write to stderr.
    os.write(2, f"rrl train: {signal.Signals(signum).name} again: already stopping (kill -9 "
                f"{os.getpid()} forces it)\n".encode())


@contextlib.contextmanager
def interrupts_stop_the_run() -> Iterator[None]:
    """Within (main thread only), SIGTERM and SIGINT raise RunInterrupted once; later ones only
    say that the run is stopping, also after the block, while the caller shuts Ray down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame) -> None:
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, _already_stopping)
        raise RunInterrupted(signum)

    previous = {stop_signal: signal.signal(stop_signal, interrupt) for stop_signal in STOP_SIGNALS}
    interrupted = False
    try:
        yield
    except RunInterrupted:
        interrupted = True  # the handlers stay on _already_stopping until the process exits
        raise
    except Exception as error:
        # A signal that lands inside Ray's native `ray.wait` comes back as a SystemError whose
        # cause is our RunInterrupted: it is the same clean stop.
        stop = _interruption_in(error)
        if stop is None:
            raise
        interrupted = True
        raise stop from None
    finally:
        if not interrupted:
            for stop_signal, handler in previous.items():
                signal.signal(stop_signal, handler)


def _interruption_in(error: BaseException) -> RunInterrupted | None:
    """The RunInterrupted in `error`'s chain of causes, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, RunInterrupted):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
