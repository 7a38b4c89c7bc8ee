"""Local stand-ins for vLLM's OpenAI chat route and Gemini's generateContent, on 127.0.0.1.

Package code, not a test file: `rrl bench` and the tests both import it (as acme ships
acme/testing/fakes.py); it imports nothing from tests/.

They speak the real request and reply shapes, error bodies included, and are scriptable:

    with FakeVLLM(answers={"open the drawer": "ANSWER: 4"}, latency_s=0.2) as server:
        server.script(Reply(status=503), Reply(status=429, headers={"Retry-After": "1"}))
        client = reward_clients.make("roboreward", base_url=server.base_url)
        ...
        server.requests[0].json["messages"]      # what the client sent
        server.max_in_flight                     # how many requests overlapped

Scripted replies are used in order, then every request gets the default: the answer table entry
for the task in the prompt, else `default_text`. A `Reply` can set the status, headers, answer
text, finish reason, a raw (garbage) body, a delay, `hang=True` (never answers), and the hostile
cases: `trickle_s` (one byte at a time, never silent long enough for a read timeout), `chunked`
(no Content-Length: the size is known only once read), `echo_key` (the answer quotes the key).
Both servers run in daemon threads and bind 127.0.0.1 on a free port; nothing else is contacted.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import http
import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Reply", "Recorded", "FakeVLLM", "FakeGemini", "vllm_error", "gemini_error", "gemini_quota_error"]

GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_TASK_RE = re.compile(r"^Task: (.*)$", re.MULTILINE)
# How long a hanging handler holds its connection at most (the server's stop releases it sooner).
_HANG_LIMIT_S = 60.0
# Piece size of a chunked body.
_CHUNK_BYTES = 64 * 1024


@dataclasses.dataclass
class Reply:
    """One scripted response."""

    status: int = 200
    # The model's answer text (200 only); None takes it from the answer table or the default.
    text: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # A full JSON body to send as is (an error shape, or a 200 with odd content).
    json: dict[str, Any] | None = None
    # Raw bytes to send as is (garbage JSON); wins over everything else.
    body: bytes | None = None
    # Overrides the server's latency for this reply.
    delay_s: float | None = None
    # Never answer: hold the connection until the server stops.
    hang: bool = False
    # Send the whole response (status line, headers, body) one byte every trickle_s seconds.
    trickle_s: float | None = None
    # Send the body with Transfer-Encoding: chunked instead of a Content-Length.
    chunked: bool = False
    # Quote the API key the request carried before the answer text (a buggy or hostile server).
    echo_key: bool = False
    # vLLM finish_reason ("stop", "length") or Gemini finishReason ("STOP", "MAX_TOKENS", "SAFETY").
    finish_reason: str | None = None
    # Gemini only: a thought part sent before the answer, and promptFeedback.blockReason (no candidates).
    thought: str | None = None
    block_reason: str | None = None
    # Error message for a non-200 status without a json body.
    message: str = "scripted error"


@dataclasses.dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float


class _Server(abc.ABC):
    """The shared machinery: HTTP server thread, request log, script, in-flight counter."""

    kind = ""

    def __init__(
        self,
        *,
        answers: Mapping[str, str] | None = None,
        default_text: str = "ANSWER: 3",
        latency_s: float = 0.0,
        models: Iterable[str] = (),
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self.answers = dict(answers or {})
        self.default_text = default_text
        self.latency_s = latency_s
        self.models = set(models)
        self.api_key = api_key
        self._port = port  # 0 = a free port; a fixed one brings a "down" server back up
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> _Server:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Idle keep-alive connections are dropped after this, so no handler lives forever.
            timeout = 30

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                owner._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                owner._send(self, 404, {"detail": "Not Found"})

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fake-{self.kind}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> _Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Queues replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    # -- request handling -------------------------------------------------------------------
    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self._lock:
            self.requests.append(Recorded(handler.path, dict(handler.headers.items()), body, payload, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            reply = self._script.popleft() if self._script else Reply()
        try:
            if reply.hang:
                self._stopping.wait(_HANG_LIMIT_S)
                handler.close_connection = True
                return
            self._stopping.wait(self.latency_s if reply.delay_s is None else reply.delay_s)
            rejection = self._check(handler, payload)
            if rejection is not None:
                self._send(handler, *rejection)
            elif reply.body is not None:
                self._send_raw(handler, reply.status, reply.body, reply.headers, reply)
            elif reply.json is not None:
                self._send(handler, reply.status, reply.json, reply.headers, reply)
            elif reply.status != 200:
                self._send(handler, reply.status, self.error_body(reply.status, reply.message), reply.headers, reply)
            else:
                text = reply.text if reply.text is not None else self._answer_for(self.prompt_of(payload))
                if reply.echo_key:
                    text = f"I was called with the key {self.key_of(handler)}.\n{text}"
                self._send(handler, 200, self.ok_body(payload, text, reply), reply.headers, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer_for(self, prompt: str) -> str:
        tasks = _TASK_RE.findall(prompt or "")
        return self.answers.get(tasks[-1].strip(), self.default_text) if tasks else self.default_text

    def _send(
        self, handler: Any, status: int, payload: Any, headers: Mapping[str, str] | None = None,
        reply: Reply | None = None,
    ) -> None:
        self._send_raw(
            handler, status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})},
            reply,
        )

    def _send_raw(
        self, handler: Any, status: int, body: bytes, headers: Mapping[str, str], reply: Reply | None = None
    ) -> None:
        reply = reply or Reply()
        try:
            if reply.trickle_s is not None:
                self._trickle(handler, status, body, headers, reply.trickle_s)
                return
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if reply.chunked:
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                for start in range(0, len(body), _CHUNK_BYTES):
                    piece = body[start : start + _CHUNK_BYTES]
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.write(b"0\r\n\r\n")
                return
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout) before the answer: nothing to do.
            handler.close_connection = True

    def _trickle(self, handler: Any, status: int, body: bytes, headers: Mapping[str, str], every_s: float) -> None:
        """Writes the response byte by byte, `every_s` apart, until done or the server stops."""
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}"]
        head += [f"{name}: {value}" for name, value in {**headers, "Content-Length": str(len(body))}.items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        handler.close_connection = True
        for byte in range(len(data)):
            handler.wfile.write(data[byte : byte + 1])
            if self._stopping.wait(every_s):
                return

    # -- per protocol -----------------------------------------------------------------------
    @abc.abstractmethod
    def _check(self, handler: Any, payload: Any) -> tuple[int, Any] | None:
        """A rejection (status, body) the real service would give, or None."""

    @abc.abstractmethod
    def prompt_of(self, payload: Any) -> str:
        """The task prompt text the request carried."""

    @abc.abstractmethod
    def key_of(self, handler: Any) -> str:
        """The API key the request carried ("" for none)."""

    @abc.abstractmethod
    def error_body(self, status: int, message: str) -> Any:
        """The service's error body for `status`."""

    @abc.abstractmethod
    def ok_body(self, payload: Any, text: str, reply: Reply) -> Any:
        """The service's success body answering with `text`."""


def vllm_error(status: int, message: str, type_: str = "BadRequestError") -> dict[str, Any]:
    """vLLM's (OpenAI-style) error body."""
    return {"error": {"message": message, "type": type_, "param": None, "code": status}}


class FakeVLLM(_Server):
    """vLLM's OpenAI-compatible server: POST /v1/chat/completions."""

    kind = "vllm"

    def __init__(self, *, models: Iterable[str] = ("teetone/RoboReward-8B",), **kwargs: Any) -> None:
        super().__init__(models=models, **kwargs)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _check(self, handler: Any, payload: Any) -> tuple[int, Any] | None:
        if handler.path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}
        if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            # vLLM's auth middleware answers with this exact shape.
            return 401, {"error": "Unauthorized"}
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            return 400, vllm_error(400, "Invalid request: messages is required")
        if payload.get("model") not in self.models:
            return 404, vllm_error(404, f"The model `{payload.get('model')}` does not exist.", "NotFoundError")
        return None

    def prompt_of(self, payload: Any) -> str:
        content = payload["messages"][0]["content"]
        if isinstance(content, str):  # a text-only chat (no video), e.g. counterfactual relabelling
            return content
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")

    def key_of(self, handler: Any) -> str:
        return (handler.headers.get("Authorization") or "").removeprefix("Bearer ")

    def error_body(self, status: int, message: str) -> Any:
        return vllm_error(status, message, "ServiceUnavailableError" if status >= 500 else "BadRequestError")

    def ok_body(self, payload: Any, text: str, reply: Reply) -> Any:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reply.finish_reason or "stop",
                }
            ],
            "usage": {"prompt_tokens": 1234, "completion_tokens": 5, "total_tokens": 1239},
        }


def gemini_error(code: int, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Gemini's google.rpc.Status error body."""
    error: dict[str, Any] = {"code": code, "message": message, "status": GEMINI_STATUS.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


def gemini_quota_error(*, per_day: bool = False, retry_delay: str | None = "1s") -> dict[str, Any]:
    """A 429 RESOURCE_EXHAUSTED body with QuotaFailure (per-minute or per-day) and RetryInfo."""
    quota_id = (
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
        if per_day
        else "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global"},
                    "quotaValue": "50",
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        },
    ]
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    return gemini_error(429, "You exceeded your current quota, please check your plan and billing details.", details)


class FakeGemini(_Server):
    """The Gemini API: POST /v1beta/models/{model}:generateContent with an x-goog-api-key header."""

    kind = "gemini"
    _PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")

    def __init__(
        self,
        *,
        models: Iterable[str] = ("gemini-robotics-er-2-preview",),
        api_key: str | None = "test-gemini-key",
        **kwargs: Any,
    ) -> None:
        super().__init__(models=models, api_key=api_key, **kwargs)

    @property
    def base_url(self) -> str:
        return self.root_url

    def _check(self, handler: Any, payload: Any) -> tuple[int, Any] | None:
        match = self._PATH.match(handler.path)
        if match is None:
            return 404, gemini_error(404, f"Method not found: {handler.path}")
        key = handler.headers.get("x-goog-api-key")
        if not key:
            return 403, gemini_error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity.",
            )
        if self.api_key is not None and key != self.api_key:
            return 400, gemini_error(
                400,
                "API key not valid. Please pass a valid API key.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                    }
                ],
            )
        if not isinstance(payload, dict) or not isinstance(payload.get("contents"), list):
            return 400, gemini_error(400, "Invalid JSON payload received. contents is required.")
        if "thinkingConfig" in payload:
            return 400, gemini_error(
                400, 'Invalid JSON payload received. Unknown name "thinkingConfig": Cannot find field.'
            )
        if match.group(1) not in self.models:
            return 404, gemini_error(
                404,
                f"models/{match.group(1)} is not found for API version v1beta, or is "
                "not supported for generateContent.",
            )
        return None

    def prompt_of(self, payload: Any) -> str:
        parts = payload["contents"][0]["parts"]
        return "".join(part.get("text", "") for part in parts if isinstance(part, dict))

    def key_of(self, handler: Any) -> str:
        return handler.headers.get("x-goog-api-key") or ""

    def error_body(self, status: int, message: str) -> Any:
        return gemini_error(status, message)

    def ok_body(self, payload: Any, text: str, reply: Reply) -> Any:
        usage = {"promptTokenCount": 1234, "candidatesTokenCount": 5, "totalTokenCount": 1239}
        if reply.block_reason:
            return {"promptFeedback": {"blockReason": reply.block_reason}, "usageMetadata": usage}
        parts = [{"text": reply.thought, "thought": True}] if reply.thought else []
        parts.append({"text": text})
        return {
            "candidates": [
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": reply.finish_reason or "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": "fake",
            "responseId": uuid.uuid4().hex[:12],
        }
