"""The `human` client with a scripted label source and with a real pipe as its terminal."""

from __future__ import annotations

import io
import os
import time

import pytest

import reward_clients
from envs.video import decode_mp4
from reward_clients import CallableSource, RewardClientError, TerminalSource
from tests.reward_clients.helpers import episode_with_ramp


class Scripted:
    """Answers from a list and records the prompts it was shown."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, prompt):
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_bad_keys_are_asked_again(tmp_path, episode):
    script = Scripted("x", "9", " 4\n")
    client = reward_clients.make("human", source=CallableSource(script), video_dir=str(tmp_path))
    result = client.score(episode)
    assert (result.score, result.reward, result.attempts, result.raw_text) == (4, 0.75, 3, "4")
    assert (result.source, result.model) == ("human", "human-score")
    assert "'x' is not a valid key" in script.prompts[1] and "'9' is not a valid key" in script.prompts[2]
    assert "Task: open the drawer" in script.prompts[0] and "1-5" in script.prompts[0]
    # The operator gets the whole episode as a video next to the question.
    frames, _ = decode_mp4(tmp_path / "ep-0.mp4")
    assert frames.shape == episode.frames.shape and str(tmp_path / "ep-0.mp4") in script.prompts[0]


def test_skip_leaves_the_episode_pending(tmp_path, episode):
    client = reward_clients.make("human", source=CallableSource(Scripted("skip")), video_dir=str(tmp_path))
    result = client.score(episode)
    assert result.score is None and result.reward is None and "skipped" in result.error


def test_success_mode(tmp_path):
    client = reward_clients.make(
        "human",
        mode="success",
        mapping="success",
        source=CallableSource(Scripted("maybe", "y", "n")),
        video_dir=str(tmp_path),
    )
    first, second = client.score_many([episode_with_ramp("a"), episode_with_ramp("b")], max_concurrency=4)
    assert (first.score, first.reward, first.attempts) == (5, 1.0, 2)
    assert (second.score, second.reward) == (1, 0.0)


def test_too_many_bad_keys_are_bounded(tmp_path, episode):
    client = reward_clients.make(
        "human", max_invalid=2, source=CallableSource(Scripted("a", "b", "c", "4")), video_dir=str(tmp_path)
    )
    result = client.score(episode)
    assert result.score is None and result.attempts == 3 and "no valid key" in result.error


def test_terminal_source_reads_a_pipe_with_a_timeout(tmp_path, episode):
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as stdin, os.fdopen(write_end, "w") as feed:
        out = io.StringIO()
        client = reward_clients.make(
            "human", answer_timeout_s=0.3, video_dir=str(tmp_path), source=TerminalSource(stdin=stdin, stdout=out)
        )
        feed.write("5\n")
        feed.flush()
        assert client.score(episode).score == 5
        start = time.monotonic()
        result = client.score(episode)
        assert result.score is None and "no answer within 0.3 s" in result.error
        assert 0.25 < time.monotonic() - start < 2
        assert out.getvalue().count("Score the final state") == 2


def test_closed_terminal_raises(tmp_path, episode):
    read_end, write_end = os.pipe()
    os.close(write_end)
    with os.fdopen(read_end) as stdin:
        client = reward_clients.make(
            "human", video_dir=str(tmp_path), source=TerminalSource(stdin=stdin, stdout=io.StringIO())
        )
        with pytest.raises(RewardClientError, match="EOF"):
            client.score(episode)


def test_player_is_started_and_stopped(tmp_path, episode):
    marker = tmp_path / "played"
    script = tmp_path / "player.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > {marker}\nsleep 30\n')
    script.chmod(0o755)
    client = reward_clients.make(
        "human",
        player=[str(script)],
        video_dir=str(tmp_path / "videos"),
        source=CallableSource(lambda prompt: (time.sleep(0.3), "3")[1]),
    )
    start = time.monotonic()
    assert client.score(episode).score == 3
    assert time.monotonic() - start < 5
    assert marker.read_text().strip() == str(tmp_path / "videos" / "ep-0.mp4")


def test_terminal_without_a_file_descriptor_is_refused(tmp_path, episode):
    client = reward_clients.make(
        "human", video_dir=str(tmp_path), source=TerminalSource(stdin=io.StringIO("4\n"), stdout=io.StringIO())
    )
    with pytest.raises(RewardClientError, match="pass source="):
        client.score(episode)
