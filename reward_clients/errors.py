"""Typed errors of the reward clients.

What is raised to the caller is what retrying cannot fix (a wrong URL, model id or key, a daily
quota, a video too large to send, a server unreachable for longer than its grace period): the run
should stop and say what to change. What a later retry
may fix (timeouts, 5xx, rate limits, an unparseable answer) never raises out of `score`; it comes
back as a `RewardResult` with `score=None` and the reason in `error`, so the episode stays pending.
"""

from __future__ import annotations

__all__ = [
    "RewardClientError",
    "RewardConfigError",
    "RewardServerError",
    "RewardQuotaError",
    "RewardUnreachableError",
    "RetriesExhaustedError",
    "RewardVideoTooLargeError",
    "RewardAnswerError",
]


class RewardClientError(Exception):
    """Base class of every error the reward clients raise."""


class RewardConfigError(RewardClientError, ValueError):
    """A bad client configuration: unknown name or key, a bad value, a missing API key."""


class RewardServerError(RewardClientError):
    """The reward service failed a request.

    `status` is the HTTP status (None for connection errors and timeouts); `retryable` says whether
    the same request may succeed later; `retry_after_s` is the wait the server asked for, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class RewardQuotaError(RewardServerError):
    """A quota that will not recover by retrying soon (for example Gemini's per-day request quota)."""


class RewardUnreachableError(RewardServerError):
    """No connection to the service could be made (refused, unknown host, connect timeout).

    Retryable at first; once the service has been unreachable for the client's grace period with
    no reply in between, it is raised as not retryable: the URL is wrong or the server is down.
    """


class RetriesExhaustedError(RewardServerError):
    """Every attempt a retry policy allows failed, or the server asked for a longer wait than it
    allows; `attempts` requests were made and `__cause__` is the last failure. A later try may work.
    """

    def __init__(self, message: str, *, attempts: int) -> None:
        super().__init__(message, retryable=True)
        self.attempts = attempts


class RewardVideoTooLargeError(RewardClientError):
    """The encoded episode is larger than the service accepts inline; nothing was sent."""


class RewardAnswerError(RewardClientError):
    """The service answered, but the answer holds no usable score (parse failure, blocked, cut off).

    `retryable` is False when asking again cannot help (a blocked prompt, a safety stop).
    """

    def __init__(self, message: str, *, raw_text: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.retryable = retryable
