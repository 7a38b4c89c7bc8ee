"""The `gemini_er` client against a local server speaking Gemini's generateContent protocol."""

from __future__ import annotations

import base64
import logging
import time

import pytest

import reward_clients
from envs.video import decode_mp4
from reward_clients import (
    RewardConfigError,
    RewardQuotaError,
    RewardServerError,
    RewardVideoTooLargeError,
)
from reward_clients.testing import FakeGemini, Reply, gemini_error, gemini_quota_error
from tests.reward_clients.helpers import episode_with_ramp

KEY = "AIzaTestKey-0123456789"


@pytest.fixture
def server():
    with FakeGemini(api_key=KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def make_client(server, fast, **overrides):
    return reward_clients.make("gemini_er", **{"base_url": server.base_url, "max_retries": 2, **fast, **overrides})


def test_request_matches_the_gemini_protocol(server, fast, episode):
    with make_client(server, fast, thinking_budget=256, temperature=0.5, max_output_tokens=1000) as client:
        result = client.score(episode)
    assert (result.score, result.reward, result.source) == (3, 0.5, "gemini_er")
    assert result.model == "gemini-robotics-er-2-preview"
    assert result.usage["promptTokenCount"] == 1234

    (request,) = server.requests
    assert request.path == "/v1beta/models/gemini-robotics-er-2-preview:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path
    (turn,) = request.json["contents"]
    assert turn["role"] == "user"
    video, text = turn["parts"]
    assert video["inline_data"]["mime_type"] == "video/mp4"
    assert video["video_metadata"] == {"fps": 2.0}
    frames, fps = decode_mp4(base64.b64decode(video["inline_data"]["data"]))
    assert frames.shape == (4, 32, 48, 3) and fps == pytest.approx(2.0)
    assert frames[-1].mean() == pytest.approx(episode.frames[-1].mean(), abs=3)
    assert text == {"text": reward_clients.build_prompt("open the drawer")}
    assert request.json["generationConfig"] == {
        "temperature": 0.5,
        "maxOutputTokens": 1000,
        "thinkingConfig": {"thinkingBudget": 256},
    }


def test_thinking_config_can_be_left_out(server, fast, episode):
    with make_client(server, fast, thinking_budget=None) as client:
        client.score(episode)
    assert "thinkingConfig" not in server.requests[0].json["generationConfig"]


def test_model_id_may_carry_the_models_prefix(server, fast, episode):
    with make_client(server, fast, model="models/gemini-robotics-er-2-preview") as client:
        assert client.score(episode).score == 3


def test_thought_parts_are_skipped(server, fast, episode):
    server.script(Reply(thought="Maybe ANSWER: 1? The drawer looks open.", text="ANSWER: 4"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.raw_text) == (4, "ANSWER: 4")


def test_blocked_prompt_is_not_retried(server, fast, episode):
    server.script(Reply(block_reason="PROHIBITED_CONTENT"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert result.score is None and result.attempts == 1
    assert "blockReason=PROHIBITED_CONTENT" in result.error


def test_safety_stop_is_not_retried(server, fast, episode):
    server.script(Reply(text="", finish_reason="SAFETY"))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert result.score is None and result.attempts == 1 and "SAFETY" in result.error


def test_max_tokens_is_retried_then_explained(server, fast, episode):
    server.script(*[Reply(text="The drawer", finish_reason="MAX_TOKENS")] * 3)
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert result.score is None and result.attempts == 3
    assert "max_output_tokens" in result.error and result.raw_text == "The drawer"


def test_answer_with_markdown_and_reasoning(server, fast, episode):
    server.script(Reply(text="The toy rests on the cloth, released.\n\n**ANSWER:** 5"))
    with make_client(server, fast) as client:
        assert client.score(episode).score == 5


def test_retry_delay_from_retry_info_is_honoured(server, fast, episode):
    server.script(Reply(status=429, json=gemini_quota_error(per_day=False, retry_delay="0.6s")))
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert (result.score, result.attempts) == (3, 2)
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.55


def test_daily_quota_fails_fast(server, fast, episode):
    server.script(Reply(status=429, json=gemini_quota_error(per_day=True, retry_delay="47s")))
    with make_client(server, fast) as client, pytest.raises(RewardQuotaError) as raised:
        client.score(episode)
    assert raised.value.status == 429 and "per-day" in str(raised.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_are_retried(server, fast, episode, status):
    server.script(Reply(status=status, message="The model is overloaded. Please try again later."))
    with make_client(server, fast) as client:
        assert (client.score(episode).score, len(server.requests)) == (3, 2)


def test_missing_key_fails_at_make(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(RewardConfigError, match="GEMINI_API_KEY"):
        reward_clients.make("gemini_er")


def test_invalid_key_fails_fast_and_is_never_shown(server, fast, episode, monkeypatch, caplog):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaWRONG-secret-999")
    caplog.set_level(logging.DEBUG)
    # This server echoes the key it was sent in its message: the client must still not show it.
    server.api_key = None
    server.script(Reply(status=400, json=gemini_error(400, "API key not valid: AIzaWRONG-secret-999")))
    with make_client(server, fast) as client, pytest.raises(RewardServerError) as raised:
        client.score(episode)
    assert raised.value.status == 400 and "GEMINI_API_KEY" in str(raised.value)
    shown = str(raised.value) + repr(client) + repr(client.config) + caplog.text
    assert "AIzaWRONG-secret-999" not in shown and "[redacted]" in str(raised.value)
    assert len(server.requests) == 1


def test_invalid_key_as_gemini_reports_it(server, fast, episode, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaWRONG-other")
    with make_client(server, fast) as client, pytest.raises(RewardServerError) as raised:
        client.score(episode)
    assert "API key not valid" in str(raised.value) and "GEMINI_API_KEY" in str(raised.value)


def test_key_is_redacted_from_failed_results(server, fast, episode, caplog):
    caplog.set_level(logging.DEBUG)
    server.script(*[Reply(status=503, message=f"backend saw key {KEY}")] * 3)
    with make_client(server, fast) as client:
        result = client.score(episode)
    assert result.score is None
    assert KEY not in str(result.to_dict()) + caplog.text


def test_wrong_model_404_names_the_model(server, fast, episode):
    with make_client(server, fast, model="gemini-robotics-er-1.6-preview") as client:
        with pytest.raises(RewardServerError) as raised:
            client.score(episode)
    assert raised.value.status == 404 and "gemini-robotics-er-1.6-preview" in str(raised.value)
    assert "model=" in str(raised.value)


def test_video_too_large_fails_before_sending(server, fast):
    episode = episode_with_ramp(num_frames=20, height=64, width=64)
    with make_client(server, fast, max_inline_bytes=2_000) as client:
        with pytest.raises(RewardVideoTooLargeError, match="inline limit"):
            client.score(episode)
    assert server.requests == []


def test_score_many_overlaps(fast):
    episodes = [episode_with_ramp(episode_id=f"ep-{i}", task=f"task {i}") for i in range(6)]
    answers = {f"task {i}": f"ANSWER: {5 - i % 5}" for i in range(6)}
    with FakeGemini(api_key=KEY, answers=answers, latency_s=0.3) as server:
        with make_client(server, fast) as client:
            start = time.monotonic()
            results = client.score_many(episodes, max_concurrency=3)
            elapsed = time.monotonic() - start
    assert [r.score for r in results] == [5 - i % 5 for i in range(6)]
    assert server.max_in_flight == 3 and elapsed < 1.8


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("fps", 30.0),
        ("fps", 0),
        ("thinking_budget", -2),
        ("temperature", 3.0),
        ("max_output_tokens", 100),
        ("model", "a/b:c"),
    ],
)
def test_bad_settings_fail_at_make(setting, value):
    with pytest.raises(RewardConfigError, match=setting if setting != "max_output_tokens" else "thinking_budget"):
        reward_clients.make("gemini_er", **{setting: value})
