"""Reward calls are bounded: in time, in size, in how long an unreachable server is tried, and in
what they store (never a key the server echoed)."""

from __future__ import annotations

import json
import socket
import time

import pytest
import urllib3.connection

import reward_clients
from reward_clients import RewardServerError
from reward_clients.bounded_http import bounded_session
from reward_clients.testing import FakeGemini, FakeVLLM, Reply
from reward_clients.transport import TransportConfig

GEMINI_KEY = "AIzaEchoedKey-0123456789"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def roboreward(base_url, fast, **overrides):
    return reward_clients.make("roboreward", **{"base_url": base_url, "max_retries": 0, **fast, **overrides})


def test_a_trickling_server_fails_the_request_at_its_total_deadline(fast, episode):
    # One byte every 0.05 s: no read waits as long as timeout_s, so only a total deadline (by
    # default twice timeout_s) ends the request before the ~25 s the whole reply takes.
    with FakeVLLM() as server:
        server.script(Reply(text="ANSWER: 4", trickle_s=0.05))
        with roboreward(server.base_url, fast, timeout_s=1.0) as client:
            start = time.monotonic()
            result = client.score(episode)
            elapsed = time.monotonic() - start
    assert elapsed < 3.5, f"the call took {elapsed:.1f} s with a total deadline of 2 s"
    assert result.score is None and result.attempts == 1
    assert "total_timeout_s=2" in result.error


def test_a_trickling_server_is_retried_like_a_timeout(fast, episode):
    with FakeVLLM() as server:
        server.script(Reply(trickle_s=0.2))
        with roboreward(server.base_url, fast, timeout_s=1.0, total_timeout_s=0.8, max_retries=1) as client:
            result = client.score(episode)
    assert (result.score, result.attempts) == (3, 2)


def test_total_timeout_defaults_to_twice_the_read_timeout_and_is_checked():
    assert TransportConfig(base_url="http://127.0.0.1:1", timeout_s=3).deadline_s == 6.0
    config = TransportConfig(base_url="http://127.0.0.1:1", timeout_s=3, total_timeout_s=4)
    assert config.open_transport("svc").total_timeout_s == 4.0
    with pytest.raises(ValueError, match=r"total_timeout_s must be .* got nan"):
        TransportConfig(base_url="http://127.0.0.1:1", total_timeout_s=float("nan"))


def test_the_deadline_reaches_https_and_proxied_connections_too():
    # Gemini is reached over HTTPS, maybe through a proxy: those connections must be ones the
    # deadline timer can shut (no request is made here).
    session = bounded_session(trust_env=True)
    adapter = session.get_adapter("https://generativelanguage.googleapis.com")
    pools = [adapter.poolmanager.connection_from_url("https://generativelanguage.googleapis.com"),
             adapter.proxy_manager_for("http://127.0.0.1:3128").connection_from_url("https://example.org")]
    for pool in pools:
        assert issubclass(pool.ConnectionCls, urllib3.connection.HTTPSConnection)
        assert pool.ConnectionCls is not urllib3.connection.HTTPSConnection
    session.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversize_reply_is_a_failure_and_nothing_large_is_stored(fast, episode, tmp_path, chunked):
    # A well-formed answer of 1 MB: read whole, it would score 4 and land in the cache.
    huge = "x" * 1_000_000 + "\nANSWER: 4"
    with FakeVLLM() as server:
        server.script(Reply(text=huge, chunked=chunked))
        with roboreward(server.base_url, fast, max_reply_bytes=64 * 1024, cache_dir=str(tmp_path / "cache")) as client:
            result = client.score(episode)
    assert result.score is None and "max_reply_bytes=65536" in result.error
    assert len(json.dumps(result.to_dict())) < 8_000
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_long_answer_is_scored_but_stored_cut_to_a_few_kb(fast, episode, tmp_path):
    long_text = "The drawer is open. " * 5_000 + "\nANSWER: 5"
    with FakeVLLM() as server:
        server.script(Reply(text=long_text))
        with roboreward(server.base_url, fast, cache_dir=str(tmp_path / "cache")) as client:
            result = client.score(episode)
    assert result.score == 5
    assert len(result.raw_text) <= reward_clients.MAX_RAW_TEXT_CHARS < 10_000
    assert result.raw_text.endswith("ANSWER: 5") and "characters cut" in result.raw_text
    (entry,) = (tmp_path / "cache").rglob("*.json")
    assert entry.stat().st_size < 10_000


def test_an_unreachable_server_stops_scoring_after_the_grace_period(fast, episode):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with roboreward(url, fast, unreachable_grace_s=1.0) as client:
        first = client.score(episode)  # within the grace period: a failure to retry later
        assert first.score is None and "cannot connect" in first.error
        time.sleep(1.1)
        with pytest.raises(RewardServerError) as raised:
            client.score(episode)
    assert not raised.value.retryable
    assert f"{url}/chat/completions" in str(raised.value) and "unreachable_grace_s=1" in str(raised.value)


def test_a_server_that_answers_with_errors_is_reachable(fast, episode):
    # 503s say the server is there: they are retried for ever, never taken for a wrong URL.
    with FakeVLLM() as server:
        server.script(*[Reply(status=503)] * 3)
        with roboreward(server.base_url, fast, unreachable_grace_s=0.0, max_retries=2) as client:
            result = client.score(episode)
    assert result.score is None and result.attempts == 3 and "HTTP 503" in result.error


def test_a_server_back_within_the_grace_period_resets_it(fast, episode):
    port = closed_port()
    with roboreward(f"http://127.0.0.1:{port}/v1", fast, unreachable_grace_s=1.0) as client:
        assert client.score(episode).score is None
        with FakeVLLM(port=port) as server:
            server.script(Reply(headers={"Connection": "close"}))  # no keep-alive past the server's stop
            assert client.score(episode).score == 3
        time.sleep(1.1)
        # Down again: a new grace period starts at this first failure.
        assert "cannot connect" in client.score(episode).error


def test_an_echoed_api_key_never_reaches_the_result_or_the_cache(fast, episode, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)
    with FakeGemini(api_key=GEMINI_KEY) as server:
        server.script(Reply(text="The drawer is open. ANSWER: 5", echo_key=True))
        settings = {"base_url": server.base_url, "cache_dir": str(tmp_path / "cache"), **fast}
        with reward_clients.make("gemini_er", **settings) as client:
            result = client.score(episode)
            cached = client.score(episode)
    assert result.score == 5 and "[redacted]" in result.raw_text
    stored = json.dumps(result.to_dict()) + json.dumps(cached.to_dict())
    stored += "".join(path.read_text() for path in (tmp_path / "cache").rglob("*.json"))
    assert cached.cached and GEMINI_KEY not in stored
