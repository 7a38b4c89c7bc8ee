"""`reward_clients.make` (run directories included), config validation, the clip sampler, the
cache, and import hygiene."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
import typing

import numpy as np
import pytest

import reward_clients
from reward_clients import RewardConfigError, ScoreCache, VideoSpec, cache_key, make_clip
from reward_clients.media import sample_count
from reward_clients.testing import FakeVLLM
from reward_clients.transport import RetryPolicy, Transport, parse_duration, parse_retry_after
from tests.reward_clients.helpers import episode_with_ramp


def test_every_name_builds(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    for name in reward_clients.NAMES:
        client = reward_clients.make(name)
        assert client.source == name and isinstance(client, reward_clients.RewardClient)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(RewardConfigError, match="did you mean 'roboreward'"):
        reward_clients.make("roboreword")


def test_unknown_setting_suggests_the_closest():
    with pytest.raises(RewardConfigError, match="'max_frame' \\(did you mean 'max_frames'\\?\\)"):
        reward_clients.make("roboreward", max_frame=8)


def test_model_clients_cache_in_the_run_directory(tmp_path, fast):
    with FakeVLLM() as server:
        client = reward_clients.make("roboreward", base_url=server.base_url, run_dir=tmp_path, **fast)
        assert client.config.cache_dir == str(tmp_path / "reward_cache")
        first, again = client.score(episode_with_ramp()), client.score(episode_with_ramp())
        assert (first.cached, again.cached, again.score) == (False, True, first.score)
        assert len(server.requests) == 1
    assert len(ScoreCache(tmp_path / "reward_cache")) == 1


def test_a_cache_dir_the_user_sets_wins_over_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    own = tmp_path / "own-cache"
    for name in ("roboreward", "gemini_er"):
        client = reward_clients.make(name, run_dir=tmp_path / "run", cache_dir=str(own))
        assert client.config.cache_dir == str(own)
    off = reward_clients.make("roboreward", run_dir=tmp_path / "run", cache_dir=None)
    assert off.config.cache_dir is None
    assert reward_clients.make("gemini_er", run_dir=tmp_path).config.cache_dir == str(tmp_path / "reward_cache")


def test_web_human_client_reads_the_run_labels(tmp_path):
    row = {"episode_id": "ep-0", "score": 2, "labeller": "web", "time": time.time() - 1}
    (tmp_path / "labels.jsonl").write_text(json.dumps(row) + "\n")
    client = reward_clients.make("human", web=True, run_dir=tmp_path, labels_settle_s=0.0, answer_timeout_s=2.0)
    assert client.config.labels_file == str(tmp_path / "labels.jsonl")
    assert client.score(episode_with_ramp()).score == 2
    # At a terminal the human client takes nothing from the run.
    assert reward_clients.make("human", run_dir=tmp_path, video_dir=str(tmp_path / "clips")).config.labels_file is None


def test_oracle_clients_leave_the_run_directory_alone(tmp_path):
    for name in ("oracle", "noisy_oracle", "random"):
        result = reward_clients.make(name, run_dir=tmp_path).score(episode_with_ramp(oracle_score=4))
        assert result.score is not None
    assert list(tmp_path.iterdir()) == []


def test_run_dir_must_be_a_path():
    with pytest.raises(RewardConfigError, match="run_dir must be a path or None, got 3"):
        reward_clients.make("oracle", run_dir=3)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("fps", -1.0),
        ("max_frames", 0),
        ("resolution", (10, 20)),
        ("resolution", (64,)),
        ("crf", 60),
        ("timeout_s", 0),
        ("max_retries", -1),
        ("backoff_base_s", -0.1),
        ("base_url", "127.0.0.1:8000"),
        ("model", ""),
        ("max_tokens", 0),
        ("extra_body", {"temperature": 1}),
        ("mapping", "linear"),
    ],
)
def test_bad_roboreward_settings_name_the_value(setting, value):
    with pytest.raises(RewardConfigError, match=setting.split("_s")[0] if setting != "mapping" else "mapping"):
        reward_clients.make("roboreward", **{setting: value})


def test_config_holds_no_key(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "s3cret-value")
    client = reward_clients.make("roboreward")
    assert "s3cret-value" not in repr(client.config) + repr(client)
    prepared = client.prepare(episode_with_ramp())
    assert prepared.headers["Authorization"] == "Bearer s3cret-value"
    assert "s3cret-value" not in repr(prepared)


@pytest.mark.parametrize(
    ("num_frames", "episode_fps", "spec_fps", "max_frames", "expected"),
    [
        (50, 5.0, 2.0, 32, 20),
        (50, 5.0, None, 32, 32),
        (10, 5.0, 10.0, 32, 10),
        (1, 5.0, 2.0, 32, 1),
        (300, 30.0, 2.0, 32, 20),
        (3000, 30.0, 2.0, 32, 32),
    ],
)
def test_sample_count(num_frames, episode_fps, spec_fps, max_frames, expected):
    assert sample_count(num_frames, episode_fps, VideoSpec(fps=spec_fps, max_frames=max_frames)) == expected


def test_clip_keeps_duration_and_last_frame():
    episode = episode_with_ramp(num_frames=11, fps=5.0, height=17, width=33)
    clip = make_clip(episode, VideoSpec(fps=2.0))
    assert clip.indices[-1] == 10 and clip.num_frames == 5
    assert clip.fps == pytest.approx(5.0 * 5 / 11)
    assert clip.size == (18, 34)
    # Deterministic bytes: the cache key depends on them.
    assert make_clip(episode, VideoSpec(fps=2.0)).mp4 == clip.mp4


def test_cache_key_separates_every_input():
    base = {"video": b"abc", "task": "t", "model": "m", "prompt": "p", "settings": {"x": 1}}
    keys = {cache_key(**base)}
    for field, value in [("video", b"abd"), ("task", "u"), ("model", "n"), ("prompt", "q"), ("settings", {"x": 2})]:
        keys.add(cache_key(**{**base, field: value}))
    assert len(keys) == 6
    # Moving text between fields changes the key (length-prefixed parts).
    assert cache_key(**{**base, "task": "tm", "model": ""}) != cache_key(**{**base, "task": "t", "model": "m"})


def test_cache_ignores_damaged_entries(tmp_path):
    cache = ScoreCache(tmp_path)
    key = cache_key(video=b"v", task="t", model="m", prompt="p", settings={})
    cache.put(key, {"score": 4, "raw_text": "ANSWER: 4"})
    assert cache.get(key)["score"] == 4 and len(cache) == 1
    (tmp_path / key[:2] / f"{key}.json").write_text("{truncated")
    assert cache.get(key) is None
    cache.put(key, {"score": 9})
    assert cache.get(key) is None


def test_cache_concurrent_writers(tmp_path):
    cache = ScoreCache(tmp_path)
    key = cache_key(video=b"v", task="t", model="m", prompt="p", settings={})
    threads = [threading.Thread(target=cache.put, args=(key, {"score": 1 + i % 5})) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert cache.get(key)["score"] in range(1, 6)
    assert not list(tmp_path.glob("*/*.tmp"))


def test_retry_helpers():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_duration("1.500s") == 1.5 and parse_duration("47s") == 47.0 and parse_duration("1m") is None
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0)
    rng = np.random.default_rng(0)

    class Rng:
        def uniform(self, a, b):
            return float(rng.uniform(a, b))

    delays = [policy.delay(n, None, Rng()) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        step = min(8.0, 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert policy.delay(1, 5.0, Rng()) == 5.0


def test_proxies_from_the_environment_apply_to_remote_services_only():
    assert Transport("x", 1, 1, "https://generativelanguage.googleapis.com").trust_env
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert not Transport("x", 1, 1, url).trust_env


def test_transport_reuses_sessions_across_threads():
    transport = Transport("x", 1, 1, "http://127.0.0.1:9")
    seen = []

    def use():
        session = transport._checkout()  # noqa: SLF001 (the pool is what is under test)
        seen.append(session)
        transport._checkin(session)  # noqa: SLF001

    for _ in range(5):
        thread = threading.Thread(target=use)
        thread.start()
        thread.join(timeout=5)
    assert len(set(map(id, seen))) == 1
    transport.close()


def test_score_many_raises_a_bad_episode(fast):
    empty = episode_with_ramp(episode_id="empty")
    empty.frames = empty.frames[:0]
    client = reward_clients.make("roboreward", base_url="http://127.0.0.1:9/v1", **fast)
    with pytest.raises(ValueError, match="no frames"):
        client.score_many([empty, empty], max_concurrency=2)


def test_score_many_validates_concurrency():
    with pytest.raises(ValueError, match="max_concurrency"):
        reward_clients.make("oracle").score_many([], max_concurrency=0)
    assert reward_clients.make("oracle").score_many([], max_concurrency=8) == []


def test_no_jax_or_ray_import():
    code = (
        "import sys, reward_clients; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'ray', 'flax', 'mujoco')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _float_settings():
    for name in reward_clients.NAMES:
        cls = reward_clients.config_class(name)
        for field in dataclasses.fields(cls):
            if typing.get_type_hints(cls)[field.name] in (float, float | None):
                yield name, field.name


@pytest.mark.parametrize(("name", "setting"), list(_float_settings()))
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_every_float_setting_of_every_client_refuses_nan_and_inf(name, setting, value, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    with pytest.raises(RewardConfigError, match=setting):
        reward_clients.make(name, **{setting: value})
