"""`call_with_retries` and `TransportConfig`: the one retry policy of every HTTP client here."""

from __future__ import annotations

import logging
import random

import pytest

from reward_clients import RetriesExhaustedError, RewardAnswerError, RewardServerError
from reward_clients.transport import TransportConfig, call_with_retries

FAST = TransportConfig(base_url="http://127.0.0.1:9/v1", backoff_base_s=0.01, backoff_max_s=0.02, max_retries=2)


class Script:
    """A `send` that raises its scripted errors in turn, then returns "done"; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


@pytest.fixture
def waits(monkeypatch):
    """The back-off waits asked for, in order (nothing actually sleeps)."""
    asked: list[float] = []
    monkeypatch.setattr("reward_clients.transport.time.sleep", asked.append)
    return asked


def busy(retry_after_s=None):
    return RewardServerError("svc: HTTP 503", status=503, retryable=True, retry_after_s=retry_after_s)


def test_retryable_failures_are_retried_with_retry_after_as_a_floor(waits):
    send = Script(busy(retry_after_s=5.0), RewardAnswerError("no ANSWER", raw_text="hm"))
    assert call_with_retries(FAST, send, service="svc", what="episode e", rng=random.Random(0)) == "done"
    assert send.calls == 3 and len(waits) == 2
    assert waits[0] == 5.0  # the server's wait, not the 10 ms back-off
    assert 0.01 <= waits[1] <= 0.02  # equal jitter on min(base * 2, backoff_max_s)


def test_running_out_raises_from_the_last_failure(waits):
    last = busy()
    send = Script(busy(), busy(), last)
    with pytest.raises(RetriesExhaustedError, match=r"^svc: episode e failed after 3 attempt\(s\): svc: HTTP 503") as raised:
        call_with_retries(FAST, send, service="svc", what="episode e")
    assert raised.value.attempts == 3 and raised.value.__cause__ is last and raised.value.retryable
    assert send.calls == 3 and len(waits) == 2


def test_what_retrying_cannot_fix_raises_at_once(waits):
    wrong_key = RewardServerError("svc: HTTP 401", status=401)
    send = Script(wrong_key)
    with pytest.raises(RewardServerError) as raised:
        call_with_retries(FAST, send, service="svc", what="episode e")
    assert raised.value is wrong_key and send.calls == 1 and waits == []
    blocked = Script(RewardAnswerError("SAFETY", retryable=False))
    with pytest.raises(RewardAnswerError, match="SAFETY"):
        call_with_retries(FAST, blocked, service="svc", what="episode e")
    broken = Script(KeyError("choices"))
    with pytest.raises(KeyError):
        call_with_retries(FAST, broken, service="svc", what="episode e")
    assert blocked.calls == broken.calls == 1 and waits == []


def test_a_wait_longer_than_allowed_ends_the_retries(waits):
    send = Script(busy(retry_after_s=3600.0))
    policy = TransportConfig(base_url="http://127.0.0.1:9", max_retry_wait_s=5.0)
    with pytest.raises(RetriesExhaustedError, match="asked to wait 3600 s, more than max_retry_wait_s=5") as raised:
        call_with_retries(policy, send, service="svc", what="episode e")
    assert raised.value.attempts == send.calls == 1 and waits == []


def test_secrets_never_reach_the_message_or_the_log(waits, caplog):
    leaky = RewardServerError("svc: bad key AIza-secret", retryable=True)
    with caplog.at_level(logging.WARNING, logger="reward_clients"), pytest.raises(RetriesExhaustedError) as raised:
        call_with_retries(FAST, Script(leaky, leaky, leaky), service="svc", what="x", secrets=["AIza-secret"])
    assert "AIza-secret" not in str(raised.value) + caplog.text
    assert "[redacted]" in str(raised.value) and caplog.text.count("retrying in") == 2


@pytest.mark.parametrize(
    ("setting", "value"),
    [("base_url", "127.0.0.1:8000"), ("timeout_s", 0), ("connect_timeout_s", 4000), ("max_retries", 21),
     ("backoff_max_s", -1), ("max_retry_wait_s", "long")],
)
def test_transport_config_names_the_bad_value(setting, value):
    settings = {"base_url": "http://127.0.0.1:8000/v1", setting: value}
    with pytest.raises(ValueError, match=f"TransportConfig: {setting} must .* got {value!r}"):
        TransportConfig(**settings)


def test_transport_config_opens_a_transport_with_its_timeouts():
    config = TransportConfig(base_url="http://127.0.0.1:8000/v1/", timeout_s=7.0, connect_timeout_s=2.0)
    transport = config.open_transport("svc")
    assert config.base_url == "http://127.0.0.1:8000/v1"
    assert (transport.service, transport.timeout, transport.trust_env) == ("svc", (2.0, 7.0), False)
    transport.close()
