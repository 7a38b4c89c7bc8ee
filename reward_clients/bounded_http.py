"""HTTP requests that end by a deadline and stop reading at a size cap (the mechanics under
transport.Transport).

requests' timeouts bound each silent wait only: a server that sends a byte every few seconds holds
a request as long as it likes, and `response.content` reads a reply of any size into memory. Here
a timer shuts the request's socket at the deadline, which ends a read blocked anywhere (TLS
handshake, status line, headers, body), and the body is read in chunks and given up past the cap.

    session = bounded_session(trust_env=False)
    status, headers, body = post_bounded(session, url, headers={...}, data=b"...", timeout=(5, 120),
                                         total_s=240, max_bytes=8 << 20)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.exceptions
import urllib3.poolmanager

__all__ = ["bounded_session", "post_bounded", "is_unreachable", "DeadlineExceededError", "ReplyTooLargeError"]

# Body bytes read at a time.
_CHUNK_BYTES = 64 * 1024
# After the deadline, how often the timer looks again for a socket opened late (mid-connect).
_RECHECK_S = 0.05

_current = threading.local()


class DeadlineExceededError(Exception):
    """The request was still running at its deadline; its socket was shut."""


class ReplyTooLargeError(Exception):
    """The reply is larger than the cap; the rest was not read."""


class _Watch:
    """The connections one request uses, and the timer that shuts them at its deadline."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._finished = False
        self.expired = False
        self._arm(seconds)

    def _arm(self, seconds: float) -> None:
        timer = threading.Timer(seconds, self._expire)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def add(self, connection: Any) -> None:
        with self._lock:
            if connection not in self._connections:
                self._connections.append(connection)

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            for connection in self._connections:
                _shut(connection)
            # A connection still connecting has no socket yet: look again until the request ends.
            self._arm(_RECHECK_S)

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._timer.cancel()


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # socket.socket's own shutdown, also for an SSLSocket: it wakes the reading thread
        # without tearing down the TLS state that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watch(connection: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(connection)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        _watch(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:  # a reused keep-alive connection skips connect()
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        _watch(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _use_watched_pools(manager: urllib3.PoolManager) -> None:
    # A SOCKS proxy brings pool classes of its own; those are left alone (no deadline there).
    if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter with connections a request's deadline timer can reach."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _use_watched_pools(manager)
        return manager


def bounded_session(*, trust_env: bool) -> requests.Session:
    """A Session whose requests `post_bounded` can end at a deadline."""
    session = requests.Session()
    session.trust_env = trust_env
    for prefix in ("http://", "https://"):
        session.mount(prefix, _WatchedAdapter())
    return session


def post_bounded(
    session: requests.Session, url: str, *, headers: Mapping[str, str], data: bytes,
    timeout: tuple[float, float], total_s: float, max_bytes: int,
) -> tuple[int, Mapping[str, str], bytes]:
    """POSTs `data` with `session` (from bounded_session); returns (status, headers, body).

    Raises DeadlineExceededError when the whole exchange is not over after `total_s` seconds,
    ReplyTooLargeError when the body is (or declares to be) over `max_bytes`, and requests' own
    errors for the rest (`timeout` is requests' (connect, silent read) pair).
    """
    watch = _Watch(total_s)
    _current.watch = watch
    try:
        try:
            with session.post(url, data=data, headers=dict(headers), timeout=timeout, stream=True) as response:
                body = _read_capped(response, max_bytes)
        except requests.RequestException as error:
            if watch.expired:
                raise DeadlineExceededError(f"still running after {total_s:g} s") from error
            raise
        if watch.expired:
            # A body without a declared length simply ends at the shut socket: it may be cut.
            raise DeadlineExceededError(f"still running after {total_s:g} s")
        return response.status_code, response.headers, body
    finally:
        watch.finish()
        _current.watch = None


def _read_capped(response: requests.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ReplyTooLargeError(f"it declares {int(declared)} bytes")
    body = bytearray()
    for chunk in response.iter_content(_CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise ReplyTooLargeError(f"more than {max_bytes} bytes arrived")
    return bytes(body)


def is_unreachable(error: requests.RequestException) -> bool:
    """True when no connection could be made: refused, unknown host, connect timeout, proxy down."""
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.ProxyError):
        return True
    if not isinstance(error, requests.ConnectionError):
        return False
    # requests wraps urllib3's MaxRetryError, whose reason says what failed.
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)
