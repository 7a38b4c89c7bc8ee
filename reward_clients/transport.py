"""HTTP plumbing shared by the model clients and the counterfactual relabeller: transport
settings, error classification, and the one bounded retry loop with back-off.

Retried (the same request may work later): connection errors, timeouts, a request past its total
deadline, a reply over the size cap, 408, 429, 500, 502, 503, 504 (and other 5xx). Not retried:
400, 401, 403, 404 and other 4xx (the request or the configuration is wrong; the client adds what
to fix), a per-day quota 429, and a server unreachable for longer than `unreachable_grace_s`.

    config = TransportConfig(base_url="http://127.0.0.1:8000/v1", max_retries=2)
    transport = config.open_transport("roboreward")
    answer = call_with_retries(config, send_once, service="roboreward", what="episode ep-0")
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import math
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import requests

from reward_clients.bounded_http import (
    DeadlineExceededError,
    ReplyTooLargeError,
    bounded_session,
    is_unreachable,
    post_bounded,
)
from reward_clients.errors import (
    RetriesExhaustedError,
    RewardAnswerError,
    RewardServerError,
    RewardUnreachableError,
)

__all__ = [
    "RetryPolicy",
    "TransportConfig",
    "Transport",
    "call_with_retries",
    "parse_retry_after",
    "parse_duration",
    "error_message",
    "redact",
    "redact_json",
    "RETRYABLE_STATUS",
]

logger = logging.getLogger("reward_clients")
T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential back-off and jitter (used by `call_with_retries`)."""

    # Retries after the first request, for retryable errors (and, in the reward clients, for
    # unparsable answers): at most max_retries + 1 requests per call.
    max_retries: int = 3
    # First back-off in seconds; doubles per retry, with jitter.
    backoff_base_s: float = 1.0
    # Cap on one computed back-off in seconds (a server's Retry-After may ask for more, up to
    # max_retry_wait_s).
    backoff_max_s: float = 30.0
    # Longest wait a server may ask for (Retry-After, RetryInfo); a longer one ends the retries (the
    # call fails, to be tried later: an episode stays pending) instead of parking a worker for ages.
    max_retry_wait_s: float = 120.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or not 0 <= self.max_retries <= 20:
            raise ValueError(f"{type(self).__name__}: max_retries must be an int in 0..20, got {self.max_retries!r}")
        for name in ("backoff_base_s", "backoff_max_s", "max_retry_wait_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value < math.inf:  # NaN fails too
                raise ValueError(f"{type(self).__name__}: {name} must be a finite number >= 0, got {value!r}")

    def delay(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (1-based).

        "Equal jitter": half the exponential step fixed, half random, so concurrent clients spread
        out but never retry at once. A server-requested wait is a floor, not a suggestion.
        """
        step = min(self.backoff_max_s, self.backoff_base_s * 2 ** (retry - 1))
        backoff = step / 2 + rng.uniform(0, step / 2)
        return max(backoff, retry_after_s or 0.0)


@dataclasses.dataclass(frozen=True)
class TransportConfig(RetryPolicy):
    """Where requests go and how they travel: the service root, timeouts, and the retry policy.

    The settings of the model clients (ModelClientConfig) and of the counterfactual relabeller
    inherit these fields, so `timeout_s=...` or `max_retries=0` means the same everywhere.
    """

    # The service's root URL (the client appends its route).
    base_url: str = ""
    # Seconds to wait for the server's answer (per request, while it is silent).
    timeout_s: float = 120.0
    # Seconds to wait for a TCP connection.
    connect_timeout_s: float = 5.0
    # Seconds one whole request may take, upload and a slowly trickled reply included; None is
    # twice timeout_s. A request still running then fails (retried like a timeout).
    total_timeout_s: float | None = None
    # Largest reply body read, in bytes; a larger one fails (retried) and is never stored.
    max_reply_bytes: int = 8 * 1024 * 1024
    # Seconds of nothing but failed connections (refused, unknown host, connect timeout) with no
    # reply in between, after which the service counts as unreachable: the next failed
    # connection raises a RewardUnreachableError naming the URL that is not retried (a run stops).
    unreachable_grace_s: float = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"{type(self).__name__}: base_url must start with http:// or https://, got {self.base_url!r}"
            )
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        for name, most in (("timeout_s", 3600), ("connect_timeout_s", 3600), ("total_timeout_s", 7200)):
            value = getattr(self, name)
            if name == "total_timeout_s" and value is None:
                continue
            if not isinstance(value, int | float) or not 0 < value <= most:
                raise ValueError(f"{type(self).__name__}: {name} must be in (0, {most}] seconds, got {value!r}")
        if not isinstance(self.max_reply_bytes, int) or not 1024 <= self.max_reply_bytes <= 2**30:
            raise ValueError(
                f"{type(self).__name__}: max_reply_bytes must be an int in [1024, 2**30], got {self.max_reply_bytes!r}"
            )
        grace = self.unreachable_grace_s
        if not isinstance(grace, int | float) or not 0 <= grace <= 86400:
            raise ValueError(f"{type(self).__name__}: unreachable_grace_s must be in [0, 86400] seconds, got {grace!r}")

    @property
    def deadline_s(self) -> float:
        """The total deadline of one request: total_timeout_s, or twice timeout_s when unset."""
        return 2.0 * self.timeout_s if self.total_timeout_s is None else float(self.total_timeout_s)

    def open_transport(self, service: str) -> Transport:
        """A Transport to `base_url` with these limits; `service` starts its error messages."""
        return Transport(
            service, self.connect_timeout_s, self.timeout_s, self.base_url, total_timeout_s=self.deadline_s,
            max_reply_bytes=self.max_reply_bytes, unreachable_grace_s=self.unreachable_grace_s,
        )


def call_with_retries(
    policy: RetryPolicy,
    send: Callable[[], T],
    *,
    service: str,
    what: str,
    rng: random.Random | None = None,
    secrets: Iterable[str] = (),
) -> T:
    """What `send()` returns, calling it at most `policy.max_retries + 1` times.

    `send` makes one attempt. A RewardServerError or RewardAnswerError with `retryable` set asks
    for another; anything else (a non-retryable one included) propagates at once. Between attempts
    it waits `policy.delay(...)`, with the server's Retry-After as a floor; a server asking for
    longer than `max_retry_wait_s` ends the retries. Running out raises RetriesExhaustedError
    from the last failure, its message "<service>: <what> failed after N attempt(s): <last
    failure>", with `secrets` redacted there and in the log lines.
    """
    rng = rng or random.Random()
    secrets = tuple(secrets)
    last_error: RewardServerError | RewardAnswerError | None = None
    reason = ""
    attempt = 0
    while attempt <= policy.max_retries:
        if last_error is not None:
            retry_after = last_error.retry_after_s if isinstance(last_error, RewardServerError) else None
            if retry_after is not None and retry_after > policy.max_retry_wait_s:
                reason = (
                    f"the server asked to wait {retry_after:.0f} s, more than "
                    f"max_retry_wait_s={policy.max_retry_wait_s:g}; "
                )
                break
            wait = policy.delay(attempt, retry_after, rng)
            logger.warning(
                "%s: %s: attempt %d failed (%s); retrying in %.2f s",
                service, what, attempt, redact(str(last_error), secrets), wait,
            )
            time.sleep(wait)
        attempt += 1
        try:
            return send()
        except (RewardServerError, RewardAnswerError) as error:
            if not error.retryable:
                raise
            last_error = error
    message = f"{service}: {what} failed after {attempt} attempt(s): {reason}{last_error}"
    raise RetriesExhaustedError(redact(message, secrets), attempts=attempt) from last_error


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date. None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_duration(value: Any) -> float | None:
    """Seconds from a protobuf JSON Duration such as "1s" or "0.500s" (Gemini's retryDelay)."""
    if not isinstance(value, str):
        return None
    match = _DURATION_RE.match(value)
    return float(match.group(1)) if match else None


def error_message(payload: Any, body: bytes) -> str:
    """The human message of an error response, whatever its shape.

    Shapes seen: OpenAI/vLLM {"error": {"message": ...}}, older vLLM {"object": "error",
    "message": ...}, vLLM's auth middleware {"error": "Unauthorized"}, Gemini {"error": {"code",
    "status", "message", "details"}}, and non-JSON bodies from proxies.
    """
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            status = error.get("status")
            return f"{status}: {error['message']}" if status else str(error["message"])
        if isinstance(error, str) and error:
            return error
        if payload.get("message"):
            return str(payload["message"])
    text = body[:300].decode("utf-8", "replace").strip()
    return text or "(empty body)"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced; used on everything that leaves a client."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def redact_json(value: Any, secrets: Iterable[str]) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(k), secrets): redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_json(v, secrets) for v in value]
    return value


class Transport:
    """POSTs JSON with a timeout on every call, over a small pool of `requests.Session`s.

    Every request ends by its total deadline and reads at most `max_reply_bytes` (bounded_http).
    Sessions keep connections alive between episodes. They are not documented as thread-safe, so
    each request checks one out for its own use and returns it; the pool never holds more
    sessions than requests were ever in flight at once, whatever threads come and go. The
    transport remembers since when every connection failed, for `unreachable_grace_s`.
    """

    def __init__(
        self, service: str, connect_timeout_s: float, read_timeout_s: float, url: str, *,
        total_timeout_s: float | None = None, max_reply_bytes: int = 8 * 1024 * 1024,
        unreachable_grace_s: float = 60.0,
    ) -> None:
        self.service = service
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.total_timeout_s = 2.0 * read_timeout_s if total_timeout_s is None else total_timeout_s
        self.max_reply_bytes = max_reply_bytes
        self.unreachable_grace_s = unreachable_grace_s
        # Proxy variables from the environment are honoured for remote services (a lab may need
        # one for Google), never for a server on this machine: the video would take a detour
        # through the proxy, and tests must reach nothing but 127.0.0.1.
        self.trust_env = urllib.parse.urlsplit(url).hostname not in _LOOPBACK
        self._idle: list[requests.Session] = []
        self._all: list[requests.Session] = []
        self._lock = threading.Lock()
        # time.monotonic() of the first failed connection since the server last replied.
        self._unreachable_since: float | None = None

    def _checkout(self) -> requests.Session:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            session = bounded_session(trust_env=self.trust_env)
            self._all.append(session)
            return session

    def _checkin(self, session: requests.Session) -> None:
        with self._lock:
            if session in self._all:
                self._idle.append(session)

    def post_json(self, url: str, headers: Mapping[str, str], data: bytes) -> tuple[int, Mapping[str, str], Any, bytes]:
        """Returns (status, headers, parsed JSON or None, raw body). Network failures raise a
        retryable RewardServerError (a RewardUnreachableError for a failed connection, not
        retryable past the grace period); HTTP errors are returned for the caller to classify."""
        session = self._checkout()
        try:
            status, reply_headers, body = post_bounded(
                session, url, headers=headers, data=data, timeout=self.timeout, total_s=self.total_timeout_s,
                max_bytes=self.max_reply_bytes,
            )
        except DeadlineExceededError as error:
            raise RewardServerError(
                f"{self.service}: no complete reply from {url} within total_timeout_s={self.total_timeout_s:g} s",
                retryable=True,
            ) from error
        except ReplyTooLargeError as error:
            raise RewardServerError(
                f"{self.service}: the reply from {url} is over max_reply_bytes={self.max_reply_bytes} ({error}); "
                "not read further",
                retryable=True,
            ) from error
        except requests.RequestException as error:
            raise self._network_error(url, error) from error
        finally:
            self._checkin(session)
        with self._lock:
            self._unreachable_since = None
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        return status, reply_headers, payload, body

    def _network_error(self, url: str, error: requests.RequestException) -> RewardServerError:
        if is_unreachable(error):
            return self._unreachable(url, error)
        if isinstance(error, requests.Timeout):
            return RewardServerError(
                f"{self.service}: no answer from {url} within {self.timeout[1]:g} s ({type(error).__name__})",
                retryable=True,
            )
        # A reply cut mid-body or a dropped connection may work next time; a malformed URL never will.
        transient = isinstance(
            error,
            requests.ConnectionError | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        )
        return RewardServerError(
            f"{self.service}: request to {url} failed: {type(error).__name__}: {_short(error)}", retryable=transient
        )

    def _unreachable(self, url: str, error: requests.RequestException) -> RewardUnreachableError:
        now = time.monotonic()
        with self._lock:
            if self._unreachable_since is None:
                self._unreachable_since = now
            failing_for = now - self._unreachable_since
        if failing_for >= self.unreachable_grace_s:
            return RewardUnreachableError(
                f"{self.service}: cannot reach {url}: every connection for {failing_for:.0f} s failed "
                f"(unreachable_grace_s={self.unreachable_grace_s:g}), the last with {_short(error)}. Check that "
                "the server is running and that base_url is right",
                retryable=False,
            )
        return RewardUnreachableError(
            f"{self.service}: cannot connect to {url} (is the server running and base_url right?): {_short(error)}",
            retryable=True,
        )

    def close(self) -> None:
        with self._lock:
            sessions, self._all, self._idle = self._all, [], []
        for session in sessions:
            session.close()


def _short(error: BaseException) -> str:
    # requests nests urllib3's errors; the innermost reason ("Connection refused") is the useful part.
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    return match.group(0) if match else text[:200]
