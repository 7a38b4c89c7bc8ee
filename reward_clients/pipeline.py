"""`score_many` for clients whose work splits into a CPU stage and a waiting stage.

Encoding a clip costs tens of milliseconds of CPU; the request then waits on the server for
seconds. Doing both in one worker leaves the server idle while a whole wave of workers encodes
at once (they all got their answers together). Here encoders (one per core) run ahead of the
senders by a bounded window, so a request is ready whenever a sender slot frees up, and at most
`window` encoded requests are held in memory.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from envs.episode import Episode
from reward_clients.base import RewardResult

__all__ = ["score_pipelined"]

P = TypeVar("P")


def score_pipelined(
    episodes: Sequence[Episode],
    prepare: Callable[[Episode], P],
    send: Callable[[Episode, P, float], RewardResult],
    max_concurrency: int,
    name: str = "reward",
) -> list[RewardResult]:
    """Runs `prepare` (CPU) and then `send(episode, prepared, start_time)` (I/O) for every episode,
    with at most `max_concurrency` sends in flight; results are in input order.

    An error from either stage cancels what has not started and is re-raised once the running
    work is done (every send is bounded by its own timeouts and retry limit).
    """
    episodes = list(episodes)
    window = 2 * max_concurrency
    encoders = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(os.cpu_count() or 1, max_concurrency)), thread_name_prefix=f"{name}-encode"
    )
    senders = concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=f"{name}-send")
    results: list[RewardResult | None] = [None] * len(episodes)
    preparing: dict[concurrent.futures.Future, int] = {}
    sending: dict[concurrent.futures.Future, int] = {}
    next_index, open_slots = 0, window
    try:
        while next_index < len(episodes) or preparing or sending:
            while next_index < len(episodes) and open_slots > 0:
                preparing[encoders.submit(_timed, prepare, episodes[next_index])] = next_index
                next_index, open_slots = next_index + 1, open_slots - 1
            # No timeout needed here: each future is bounded by the client's own timeouts.
            done, _ = concurrent.futures.wait([*preparing, *sending], return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future in preparing:
                    index = preparing.pop(future)
                    start, prepared = future.result()
                    sending[senders.submit(send, episodes[index], prepared, start)] = index
                else:
                    results[sending.pop(future)] = future.result()
                    open_slots += 1
    finally:
        for pool in (encoders, senders):
            pool.shutdown(wait=True, cancel_futures=True)
    assert all(result is not None for result in results), "every episode has a result"
    return results  # type: ignore[return-value]


def _timed(prepare: Callable[[Episode], P], episode: Episode) -> tuple[float, P]:
    # The episode's latency counts from when its encoding starts, not from when it was queued.
    start = time.monotonic()
    return start, prepare(episode)
