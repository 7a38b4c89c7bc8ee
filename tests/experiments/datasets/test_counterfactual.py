"""The counterfactual relabeller's requests: the reward clients' transport settings and retry policy."""

from __future__ import annotations

import json

import pytest

from experiments.datasets.counterfactual import CounterfactualConfig, Relabeller
from experiments.datasets.options import parse_options
from reward_clients import RetriesExhaustedError, RewardServerError, RewardUnreachableError
from reward_clients.testing import FakeVLLM, Reply
from reward_clients.transport import TransportConfig

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 2.0, "connect_timeout_s": 1.0}
PROPOSALS = json.dumps({"1": "put it in the drawer", "2": "stack it on the cup"})


def relabeller(server: FakeVLLM, **settings) -> Relabeller:
    return Relabeller(CounterfactualConfig(**{"base_url": server.base_url, "model": "qwen-test", **FAST, **settings}))


def test_a_503_is_retried_after_the_wait_the_server_asks_for():
    with FakeVLLM(models=("qwen-test",), default_text="ANSWER: 2") as server:
        server.script(Reply(status=503, headers={"Retry-After": "0.4"}, message="loading"))
        client = relabeller(server)
        assert client.chat("score it", "qwen-test", 0.0) == "ANSWER: 2"
        client.close()
    first, second = server.requests
    assert second.received_at - first.received_at >= 0.4  # far above the 10 ms back-off
    assert first.body == second.body


def test_retries_are_bounded_and_end_in_the_last_error():
    with FakeVLLM(models=("qwen-test",)) as server:
        server.script(*[Reply(status=502, message="bad gateway")] * 3)
        client = relabeller(server, max_retries=1)
        with pytest.raises(RetriesExhaustedError, match=r"^counterfactual: .* failed after 2 attempt\(s\)") as raised:
            client.chat("score it", "qwen-test", 0.0)
        # relabel_many keeps going: the task's outcome records the failure.
        server.script(*[Reply(status=502)] * 2)
        [outcome] = client.relabel_many(["put the toy on the cloth"])
        client.close()
    assert raised.value.attempts == 2 and raised.value.__cause__.status == 502
    assert outcome.proposals == () and "failed after 2 attempt(s)" in outcome.error
    assert len(server.requests) == 4


def test_a_wait_longer_than_max_retry_wait_s_is_not_sat_out():
    with FakeVLLM(models=("qwen-test",)) as server:
        server.script(Reply(status=429, headers={"Retry-After": "3600"}))
        client = relabeller(server, max_retry_wait_s=1.0)
        with pytest.raises(RetriesExhaustedError, match="asked to wait 3600 s"):
            client.chat("score it", "qwen-test", 0.0)
        client.close()
    assert len(server.requests) == 1


def test_a_model_the_server_lacks_fails_at_once():
    with FakeVLLM(models=("qwen-test",), default_text=PROPOSALS) as server:
        client = relabeller(server, model="not-served")
        with pytest.raises(RewardServerError) as raised:
            client.relabel_many(["put the toy on the cloth"])
        client.close()
    assert raised.value.status == 404 and not raised.value.retryable and len(server.requests) == 1


def test_a_server_unreachable_past_its_grace_period_stops_the_batch():
    server = FakeVLLM(models=("qwen-test",))
    server.start()
    url = server.base_url
    server.stop()  # nothing listens there now
    client = Relabeller(CounterfactualConfig(base_url=url, model="qwen-test", max_retries=0, unreachable_grace_s=0,
                                             **FAST))
    with pytest.raises(RewardUnreachableError, match=f"cannot reach {url}/chat/completions") as raised:
        client.relabel_many(["put the toy on the cloth"])
    client.close()
    assert not raised.value.retryable


def test_the_command_line_words_set_the_shared_transport_settings():
    words = ["base_url=http://127.0.0.1:8001/v1/", "model=Qwen/Qwen3-8B", "timeout_s=30", "max_retries=0",
             "backoff_base_s=0.5", "max_retry_wait_s=10"]
    config = CounterfactualConfig(**parse_options(CounterfactualConfig, words, "counterfactual"))
    assert isinstance(config, TransportConfig)
    assert (config.base_url, config.timeout_s, config.max_retries, config.backoff_base_s, config.max_retry_wait_s) == (
        "http://127.0.0.1:8001/v1", 30.0, 0, 0.5, 10.0)
    with pytest.raises(ValueError, match="CounterfactualConfig: connect_timeout_s must be in"):
        CounterfactualConfig(connect_timeout_s=0)
