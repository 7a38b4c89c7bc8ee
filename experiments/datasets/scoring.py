"""Scoring a stream of dataset rows with a reward client: videos decoded ahead, requests bounded.

    score_rows(client, rows, max_concurrency=8, on_done=record)
    score_rows(client, rows, max_concurrency=8, on_done=record, first_reply=True)   # the benchmark's way

Like `RewardClient.score_many`, but rows are read from disk as they are needed (a benchmark of
thousands of videos never sits in memory), and each outcome is handed to `on_done` in the
calling thread as soon as it is known, so an interrupted evaluation keeps everything it finished.
For the HTTP video-model clients decoding and clip encoding (CPU) run in their own threads,
ahead of the requests by at most `2 * max_concurrency` rows, as reward_clients.pipeline does.
With `first_reply`, a model client's outcome is its first answer unparsed (a FirstReply, only
transport failures retried); other clients' outcomes are their RewardResults either way.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from experiments.datasets.layout import DatasetRow, load_episode
from reward_clients import RewardClient, RewardClientError, RewardResult, RewardVideoTooLargeError
from reward_clients.model_client import FirstReply, ModelClient

__all__ = ["score_rows", "OnDone"]

# on_done(index into rows, the outcome or None, why the row could not be scored or None)
OnDone = Callable[[int, RewardResult | FirstReply | None, str | None], None]


def score_rows(
    client: RewardClient, rows: Sequence[DatasetRow], max_concurrency: int, on_done: OnDone, *,
    first_reply: bool = False,
) -> None:
    """Scores every row; a row whose video cannot be read is reported through `on_done` with a
    reason and skipped. An error that says the client is misconfigured (wrong URL, key, model)
    stops the work and is re-raised once the requests in flight are done."""
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"score_rows: max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if not rows:
        return
    senders_n = max(1, min(max_concurrency, client.max_parallel or max_concurrency, len(rows)))
    two_stage = isinstance(client, ModelClient)

    def load(row: DatasetRow) -> tuple[float, Any, Any]:
        start = time.monotonic()
        episode = load_episode(row)
        return start, episode, client.prepare(episode) if two_stage else None

    def send(start: float, episode: Any, prepared: Any) -> RewardResult | FirstReply:
        if two_stage:
            if first_reply:
                return client.first_reply(episode, prepared, start)
            return client.score_prepared(episode, prepared, start)
        return client.score(episode)

    loaders = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(os.cpu_count() or 1, senders_n)), thread_name_prefix="eval-load"
    )
    senders = concurrent.futures.ThreadPoolExecutor(max_workers=senders_n, thread_name_prefix="eval-send")
    loading: dict[concurrent.futures.Future, int] = {}
    sending: dict[concurrent.futures.Future, int] = {}
    # Loaded rows wait here rather than in the senders' queue, so that after an error no request
    # starts that was not already running.
    ready: collections.deque[tuple[int, float, Any, Any]] = collections.deque()
    next_index, open_slots = 0, 2 * senders_n
    try:
        while next_index < len(rows) or loading or sending or ready:
            while next_index < len(rows) and open_slots > 0:
                loading[loaders.submit(load, rows[next_index])] = next_index
                next_index, open_slots = next_index + 1, open_slots - 1
            while ready and len(sending) < senders_n:
                index, start, episode, prepared = ready.popleft()
                sending[senders.submit(send, start, episode, prepared)] = index
            # Every future is bounded: decoding by the file, requests by the client's timeouts.
            done, _ = concurrent.futures.wait([*loading, *sending], return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future in loading:
                    index = loading.pop(future)
                    try:
                        ready.append((index, *future.result()))
                    except RewardVideoTooLargeError as error:
                        open_slots += 1
                        on_done(index, None, str(error))
                    except RewardClientError:
                        raise  # a configuration error (RewardConfigError is a ValueError too)
                    except (OSError, ValueError) as error:
                        open_slots += 1
                        on_done(index, None, f"unreadable video: {error}")
                else:
                    index = sending.pop(future)
                    open_slots += 1
                    on_done(index, future.result(), None)
    finally:
        for pool in (loaders, senders):
            pool.shutdown(wait=True, cancel_futures=True)
