"""The `roboreward` client against a local server speaking vLLM's chat-completions protocol."""

from __future__ import annotations

import base64
import logging
import socket
import time

import numpy as np
import pytest

import reward_clients
from envs.video import decode_mp4
from reward_clients import RewardServerError
from reward_clients.testing import FakeVLLM, Reply
from tests.reward_clients.helpers import episode_with_ramp

PROMPT_HEAD = "Given the task, assign a discrete progress score reward (1,2,3,4,5) for the robot in the video"


@pytest.fixture
def server():
    with FakeVLLM() as fake:
        yield fake


def make_client(server, fast, **overrides):
    settings = {"base_url": server.base_url, "max_retries": 2, **fast, **overrides}
    return reward_clients.make("roboreward", **settings)


def test_request_matches_the_vllm_protocol(server, fast, episode, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret-123")
    server.api_key = "vllm-secret-123"
    server.script(Reply(text="The drawer is open.\nANSWER: 4"))
    with make_client(server, fast, fps=2.0, max_tokens=32) as client:
        result = client.score(episode)
    assert (result.score, result.reward, result.attempts, result.error) == (4, 0.75, 1, None)
    assert result.source == "roboreward" and result.model == "teetone/RoboReward-8B"
    assert result.usage["prompt_tokens"] == 1234

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer vllm-secret-123"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert body["model"] == "teetone/RoboReward-8B"
    assert body["temperature"] == 0 and body["max_tokens"] == 32
    (message,) = body["messages"]
    assert message["role"] == "user"
    video_part, text_part = message["content"]
    assert video_part["type"] == "video_url" and text_part["type"] == "text"
    assert text_part["text"] == reward_clients.build_prompt("open the drawer")
    assert text_part["text"].startswith(PROMPT_HEAD) and text_part["text"].endswith("\nTask: open the drawer")

    url = video_part["video_url"]["url"]
    prefix = "data:video/mp4;base64,"
    assert url.startswith(prefix)
    frames, fps = decode_mp4(base64.b64decode(url[len(prefix) :]))
    # 10 frames at 5 fps sampled at 2 fps: 4 frames over the same 2 s, ending on the last one.
    assert frames.shape == (4, 32, 48, 3)
    assert fps == pytest.approx(2.0)
    expected = episode.frames[[0, 3, 6, 9]].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(frames.mean(axis=(1, 2, 3)), expected, atol=3)


def test_resolution_and_max_frames(server, fast):
    episode = episode_with_ramp(num_frames=50, height=64, width=64)
    with make_client(
        server, fast, fps=None, max_frames=16, resolution=[32, 48], extra_body={"mm_processor_kwargs": {"fps": 2}}
    ) as client:
        assert client.score(episode).score == 3
    body = server.requests[0].json
    assert body["mm_processor_kwargs"] == {"fps": 2}
    data = body["messages"][0]["content"][0]["video_url"]["url"].split(",", 1)[1]
    frames, _ = decode_mp4(base64.b64decode(data))
    assert frames.shape == (16, 32, 48, 3)
    # The final state is always in the clip.
    assert frames[-1].mean() == pytest.approx(episode.frames[-1].mean(), abs=3)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("ANSWER: 4", 4),
        ("answer:3", 3),
        ("The gripper holds the toy above the cloth but never releases it.\nAnswer : 2", 2),
        ("First guess ANSWER: 2. On reflection the drawer is fully open. ANSWER: 5", 5),
        ("**ANSWER:** 1", 1),
    ],
)
def test_parses_varied_answers(server, fast, episode, text, score):
    server.script(Reply(text=text))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.raw_text, result.attempts) == (score, text, 1)


@pytest.mark.parametrize("text", ["ANSWER: 7", "The robot did well.", "ANSWER: 0", "ANSWER: 3.5", ""])
def test_bad_answers_are_retried_then_failed_never_clipped(server, fast, episode, text):
    server.script(*[Reply(text=text)] * 3)
    with make_client(server, fast, max_retries=2) as client:
        result = client.score(episode)
    assert result.score is None and result.reward is None
    assert result.attempts == 3 and len(server.requests) == 3
    assert result.raw_text == text
    assert repr(text) in result.error


def test_parse_failure_then_good_answer(server, fast, episode):
    server.script(Reply(text="ANSWER: 9"), Reply(text="ANSWER: 2"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.attempts) == (2, 2)


def test_cut_at_max_tokens_says_so(server, fast, episode):
    server.script(*[Reply(text="Let me think about the drawer", finish_reason="length")] * 2)
    with make_client(server, fast, max_retries=1) as client:
        result = client.score(episode)
    assert result.score is None and "max_tokens" in result.error


def test_429_with_retry_after_is_honoured(server, fast, episode):
    server.script(Reply(status=429, headers={"Retry-After": "1"}, message="rate limited"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.attempts) == (3, 2)
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.95


def test_503_then_success(server, fast, episode):
    server.script(Reply(status=503, message="overloaded"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.attempts, result.error) == (3, 2, None)


def test_retry_after_longer_than_allowed_stops_retrying(server, fast, episode):
    server.script(Reply(status=503, headers={"Retry-After": "3600"}))
    with make_client(server, fast, max_retry_wait_s=5.0) as client:
        start = time.monotonic()
        result = client.score(episode)
    assert time.monotonic() - start < 2
    assert result.score is None and result.attempts == 1 and "3600" in result.error


def test_garbage_json_is_retried_then_failed(server, fast, episode):
    server.script(*[Reply(body=b"{not json <html>")] * 3)
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert result.score is None and result.attempts == 3
    assert "not a JSON object" in result.error


def test_server_that_never_answers_times_out(server, fast, episode):
    server.script(Reply(hang=True), Reply(hang=True))
    with make_client(server, fast, timeout_s=0.3, max_retries=1) as client:
        start = time.monotonic()
        result = client.score(episode)
    assert time.monotonic() - start < 3
    assert result.score is None and result.attempts == 2
    assert "no answer" in result.error and "0.3 s" in result.error


def test_connection_refused(fast, episode):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    client = reward_clients.make("roboreward", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, **fast)
    result = client.score(episode)
    assert result.score is None and result.attempts == 2
    assert "cannot connect" in result.error and f"127.0.0.1:{port}" in result.error


def test_proxy_variables_never_divert_local_requests(server, fast, episode, monkeypatch):
    # Port 9 on loopback refuses connections: a request sent to the "proxy" would fail.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with make_client(server, fast) as client:
        assert client.score(episode).score == 3
    assert len(server.requests) == 1


def test_401_fails_fast_with_what_to_fix(server, fast, episode, monkeypatch, caplog):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    server.api_key = "the-server-key"
    with make_client(server, fast) as client, pytest.raises(RewardServerError) as raised:
        client.score(episode)
    assert raised.value.status == 401 and not raised.value.retryable
    assert "VLLM_API_KEY" in str(raised.value) and "--api-key" in str(raised.value)
    assert len(server.requests) == 1


def test_wrong_key_is_never_shown(server, fast, episode, monkeypatch, caplog):
    monkeypatch.setenv("VLLM_API_KEY", "wrong-key-abcdef")
    server.api_key = "the-server-key"
    caplog.set_level(logging.DEBUG)
    with make_client(server, fast) as client, pytest.raises(RewardServerError) as raised:
        client.score(episode)
    assert "refused the key" in str(raised.value)
    assert "wrong-key-abcdef" not in str(raised.value) + repr(client) + repr(client.config) + caplog.text


@pytest.mark.parametrize(
    ("overrides", "status", "hint"),
    [
        ({"model": "teetone/RoboReward-4B"}, 404, "GET"),
        ({"base_url_suffix": "/v2"}, 404, "must end in /v1"),
    ],
)
def test_404_names_model_or_url(server, fast, episode, overrides, status, hint):
    base_url = server.base_url.removesuffix("/v1") + overrides.pop("base_url_suffix", "/v1")
    with make_client(server, fast, **overrides, **{"base_url": base_url}) as client:
        with pytest.raises(RewardServerError) as raised:
            client.score(episode)
    assert raised.value.status == status and hint in str(raised.value)
    assert len(server.requests) == 1


def test_400_is_not_retried(server, fast, episode):
    server.script(Reply(status=400, message="This model's maximum context length is 8192 tokens."))
    with make_client(server, fast) as client, pytest.raises(RewardServerError) as raised:
        client.score(episode)
    assert "maximum context length" in str(raised.value) and "--max-model-len" in str(raised.value)
    assert len(server.requests) == 1


def test_score_many_overlaps_requests_and_keeps_order(fast):
    tasks = {f"task {i}": f"ANSWER: {1 + i % 5}" for i in range(8)}
    episodes = [episode_with_ramp(episode_id=f"ep-{i}", task=f"task {i}") for i in range(8)]
    with FakeVLLM(answers=tasks, latency_s=0.4) as server, make_client(server, fast) as client:
        # The first request to arrive is slow, so results complete out of input order.
        server.script(Reply(delay_s=0.8))
        start = time.monotonic()
        results = client.score_many(episodes, max_concurrency=4)
        elapsed = time.monotonic() - start
    assert [r.episode_id for r in results] == [e.episode_id for e in episodes]
    assert [r.score for r in results] == [1 + i % 5 for i in range(8)]
    assert server.max_in_flight == 4
    # About 0.8 s (the slow one overlaps two waves of 0.4 s), not eight requests one after another.
    assert elapsed < 2.5


def test_score_many_raises_a_configuration_error(server, fast, monkeypatch):
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    server.api_key = "needed"
    episodes = [episode_with_ramp(episode_id=f"ep-{i}") for i in range(6)]
    with make_client(server, fast) as client, pytest.raises(RewardServerError):
        client.score_many(episodes, max_concurrency=2)
    assert len(server.requests) < 6


def test_cache_hits_skip_the_server(server, fast, episode, tmp_path):
    with make_client(server, fast, cache_dir=str(tmp_path / "cache")) as client:
        first = client.score(episode)
        second = client.score(episode)
        other_task = client.score(episode_with_ramp(task="close the drawer"))
    assert (first.cached, second.cached, other_task.cached) == (False, True, False)
    assert second.score == first.score and second.attempts == 0
    assert len(server.requests) == 2
    # A new client on the same folder (a resumed run) hits too; another model does not.
    with make_client(server, fast, cache_dir=str(tmp_path / "cache")) as client:
        assert client.score(episode).cached
    server.models.add("other-model")
    with make_client(server, fast, cache_dir=str(tmp_path / "cache"), model="other-model") as client:
        assert not client.score(episode).cached


def test_failures_are_not_cached(server, fast, episode, tmp_path):
    server.script(*[Reply(text="no idea")] * 2)
    with make_client(server, fast, cache_dir=str(tmp_path), max_retries=1) as client:
        assert client.score(episode).score is None
        assert client.score(episode).score == 3
    assert len(server.requests) == 3
