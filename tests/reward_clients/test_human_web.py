"""The `human` client's web mode: labels come from the labels.jsonl the dashboard's page writes."""

from __future__ import annotations

import json
import threading
import time

import pytest

import reward_clients
from reward_clients import RewardConfigError
from reward_clients.human import LabelRequest, LabelsFileSource, current_labels
from tests.reward_clients.helpers import episode_with_ramp


def write_label(path, episode_id, score, *, age_s=0.0, labeller="web", **extra):
    """One row as RunDir.append_label (or, with score None, the page's undo) writes it."""
    row = {"episode_id": episode_id, "score": score, "labeller": labeller, "time": time.time() - age_s, **extra}
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def web_client(labels, **settings):
    settings = {"answer_timeout_s": 2.0, "poll_s": 0.02, "labels_settle_s": 0.0, **settings}
    return reward_clients.make("human", web=True, labels_file=str(labels), **settings)


def test_a_label_on_disk_becomes_the_score(tmp_path, episode):
    labels = tmp_path / "labels.jsonl"
    write_label(labels, "other", 1)
    write_label(labels, episode.episode_id, 4)
    result = web_client(labels).score(episode)
    assert (result.score, result.reward, result.raw_text, result.attempts) == (4, 0.75, "4", 1)
    assert (result.source, result.model, result.error) == ("human", "human-score", None)


def test_waits_for_the_page_to_write_the_label(tmp_path, episode):
    labels = tmp_path / "labels.jsonl"  # not there yet: nobody labelled anything
    writer = threading.Timer(0.3, write_label, args=(labels, episode.episode_id, 2))
    writer.start()
    start = time.monotonic()
    result = web_client(labels).score(episode)
    writer.join()
    assert result.score == 2 and 0.25 < time.monotonic() - start < 1.5


def test_no_label_in_time_leaves_the_episode_pending(tmp_path, episode):
    labels = tmp_path / "labels.jsonl"
    write_label(labels, "someone-else", 5)
    start = time.monotonic()
    result = web_client(labels, answer_timeout_s=0.3).score(episode)
    assert result.score is None and result.reward is None and "no answer within 0.3 s" in result.error
    assert 0.25 < time.monotonic() - start < 1.5


def test_a_label_counts_only_once_settled_and_not_undone(tmp_path, episode):
    labels = tmp_path / "labels.jsonl"
    client = web_client(labels, labels_settle_s=0.4, answer_timeout_s=0.2)
    write_label(labels, episode.episode_id, 5)
    assert client.score(episode).score is None  # too fresh: the page may still undo it
    write_label(labels, episode.episode_id, None, undo=True)
    time.sleep(0.3)
    assert client.score(episode).score is None  # undone
    write_label(labels, episode.episode_id, 3, age_s=1.0)
    assert client.score(episode).score == 3


def test_a_torn_last_line_is_read_once_it_is_complete(tmp_path, episode):
    labels = tmp_path / "labels.jsonl"
    line = json.dumps({"episode_id": episode.episode_id, "score": 4, "labeller": "web", "time": time.time() - 1})
    labels.write_text(line[:20])
    source = LabelsFileSource(labels, poll_s=0.02, settle_s=0.0)
    request = LabelRequest(episode.episode_id, episode.task, tmp_path / "v.mp4", "?", 0.1)
    assert source.ask(request) is None
    with open(labels, "a") as f:
        f.write(line[20:] + "\n")
    assert source.ask(request) == "4"


def test_the_same_label_row_is_answered_once(tmp_path):
    """A label the client rejects (3 in success mode) is not read again and again; a newer one is."""
    labels = tmp_path / "labels.jsonl"
    episode = episode_with_ramp("ep-s")
    client = web_client(labels, mode="success", mapping="success", answer_timeout_s=0.3)
    write_label(labels, "ep-s", 3)
    result = client.score(episode)
    assert result.score is None and result.attempts == 2 and "no answer" in result.error
    write_label(labels, "ep-s", 5)
    result = client.score(episode)
    assert (result.score, result.reward, result.raw_text) == (5, 1.0, "y")
    write_label(labels, "ep-f", 1)
    assert client.score(episode_with_ramp("ep-f")).score == 1


def test_waits_on_several_episodes_at_once(tmp_path):
    """The reward actor calls `score` from several threads; each gets its own episode's label."""
    labels = tmp_path / "labels.jsonl"
    client = web_client(labels)
    episodes = [episode_with_ramp(f"ep-{i}") for i in range(3)]
    results = {}

    def score(ep):
        results[ep.episode_id] = client.score(ep).score

    threads = [threading.Thread(target=score, args=(ep,)) for ep in episodes]
    for t in threads:
        t.start()
    for i in (2, 0, 1):
        time.sleep(0.05)
        write_label(labels, f"ep-{i}", i + 1)
    for t in threads:
        t.join(timeout=10)
    assert results == {"ep-0": 1, "ep-1": 2, "ep-2": 3}


def test_web_mode_writes_no_clip_and_names_the_run_video(tmp_path, episode):
    labels = tmp_path / "run" / "labels.jsonl"
    labels.parent.mkdir()
    prompts = []

    class Recording(LabelsFileSource):
        def ask(self, request):
            prompts.append(request)
            return super().ask(request)

    write_label(labels, episode.episode_id, 4)
    client = reward_clients.make("human", labels_file=str(labels), labels_settle_s=0.0,
                                 source=Recording(labels, settle_s=0.0))
    assert client.score(episode).score == 4
    assert prompts[0].video_path == tmp_path / "run" / "episodes" / episode.episode_id / "video.mp4"
    assert "dashboard" in prompts[0].prompt
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["labels.jsonl"]


def test_web_mode_needs_its_labels_file_and_sane_settings(tmp_path):
    with pytest.raises(RewardConfigError, match="labels_file"):
        reward_clients.make("human", web=True)
    with pytest.raises(RewardConfigError, match="poll_s"):
        reward_clients.make("human", labels_file=str(tmp_path / "l.jsonl"), poll_s=0)
    with pytest.raises(RewardConfigError, match="labels_settle_s"):
        reward_clients.make("human", labels_file=str(tmp_path / "l.jsonl"), labels_settle_s=-1)
    with pytest.raises(RewardConfigError, match="web must be true or false"):
        reward_clients.make("human", web="yes")
    # Terminal mode is untouched by the new settings.
    assert reward_clients.make("human", video_dir=str(tmp_path)).web is False


def test_current_labels_last_row_wins_and_undo_clears():
    rows = [{"episode_id": "a", "score": 2}, {"episode_id": "b", "score": 5}, {"episode_id": "a", "score": None},
            {"episode_id": "b", "score": 4}, {"score": 3}, {"episode_id": "c", "score": 1}]
    assert {k: v["score"] for k, v in current_labels(rows).items()} == {"b": 4, "c": 1}
