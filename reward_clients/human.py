"""`human`: an operator scores each episode, 1-5 or success / failure.

    client = reward_clients.make("human", mode="score", video_dir="runs/x/to_label")
    result = client.score(episode)      # saves the clip, asks on the terminal, validates the key

Where the answer comes from is a `LabelSource`: `TerminalSource` (the default) prints the question
and reads stdin with a timeout; tests pass a scripted source, and the web labelling page supplies
its own, so every front end shares the validation and the result records. "skip" leaves the
episode pending (score None), as does no answer within `answer_timeout_s`.

Web mode (`web=True`, or `labels_file` set): the operator labels on `rrl dashboard`'s page, which
appends rows to the run's labels.jsonl; `LabelsFileSource` waits (bounded by `answer_timeout_s`)
for a row for the episode that is at least `labels_settle_s` old and not undone, re-reading the
file every `poll_s`. No clip is written and no player starts: the page shows the run's own video.

    client = reward_clients.make("human", web=True, labels_file="runs/x/labels.jsonl")
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

from envs.episode import Episode
from reward_clients.base import RewardClient, RewardMapping, RewardResult
from reward_clients.errors import RewardClientError, RewardConfigError
from reward_clients.media import VideoSpec, make_clip
from reward_clients.prompt import MAX_SCORE, MIN_SCORE

__all__ = [
    "HumanConfig",
    "HumanClient",
    "LabelRequest",
    "LabelSource",
    "TerminalSource",
    "CallableSource",
    "LabelsFileSource",
    "current_labels",
]

HUMAN_MODES = ("score", "success")
SKIP_WORDS = frozenset({"skip"})
SUCCESS_WORDS = {
    "y": MAX_SCORE,
    "yes": MAX_SCORE,
    "s": MAX_SCORE,
    "success": MAX_SCORE,
    "n": MIN_SCORE,
    "no": MIN_SCORE,
    "f": MIN_SCORE,
    "fail": MIN_SCORE,
    "failure": MIN_SCORE,
}


@dataclasses.dataclass(frozen=True)
class HumanConfig:
    """Settings of the `human` client."""

    # "score": the operator types 1-5; "success": y/n (stored as score 5 / 1).
    mode: str = "score"
    # Folder for the clips the operator watches; None uses a fresh temporary folder.
    video_dir: str | None = None
    # Command that plays a clip (its path is appended), e.g. ["ffplay", "-autoexit", "-loglevel",
    # "quiet"]; empty prints the path only.
    player: tuple[str, ...] = ()
    # Seconds to wait for an answer before leaving the episode pending.
    answer_timeout_s: float = 600.0
    # Invalid keys accepted before the episode is left pending (bounds the loop).
    max_invalid: int = 10
    # Score-to-reward mapping: "progress", "success", {score: reward} or five rewards.
    mapping: Any = "progress"
    # Web mode: answers come from the dashboard's labelling page through `labels_file`. In a run
    # (make(..., run_dir=...)) `labels_file` defaults to <run>/labels.jsonl when this is on.
    web: bool = False
    # The labels.jsonl the page writes; setting it turns web mode on.
    labels_file: str | None = None
    # Seconds between re-reads of `labels_file` while waiting for a label.
    poll_s: float = 0.5
    # A label counts once it is this many seconds old (the page can undo it until then).
    labels_settle_s: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in HUMAN_MODES:
            raise ValueError(f"HumanConfig: mode {self.mode!r} is not one of {list(HUMAN_MODES)}")
        if isinstance(self.player, str) or not all(isinstance(p, str) for p in self.player):
            raise ValueError(f"HumanConfig: player must be a list of command words, got {self.player!r}")
        object.__setattr__(self, "player", tuple(self.player))
        if not isinstance(self.answer_timeout_s, int | float) or not 0 < self.answer_timeout_s < math.inf:
            raise ValueError(
                f"HumanConfig: answer_timeout_s must be a finite number > 0, got {self.answer_timeout_s!r}"
            )
        if not isinstance(self.max_invalid, int) or self.max_invalid < 0:
            raise ValueError(f"HumanConfig: max_invalid must be an int >= 0, got {self.max_invalid!r}")
        object.__setattr__(self, "mapping", RewardMapping.parse(self.mapping))
        if not isinstance(self.web, bool):
            raise ValueError(f"HumanConfig: web must be true or false, got {self.web!r}")
        if self.labels_file is not None and (not isinstance(self.labels_file, str) or not self.labels_file):
            raise ValueError(f"HumanConfig: labels_file must be a path or None, got {self.labels_file!r}")
        if not isinstance(self.poll_s, int | float) or not 0 < self.poll_s <= 60:
            raise ValueError(f"HumanConfig: poll_s must be in (0, 60] seconds, got {self.poll_s!r}")
        if not isinstance(self.labels_settle_s, int | float) or not 0 <= self.labels_settle_s < math.inf:
            raise ValueError(
                f"HumanConfig: labels_settle_s must be a finite number >= 0, got {self.labels_settle_s!r}"
            )


@dataclasses.dataclass(frozen=True)
class LabelRequest:
    """One question to the operator."""

    episode_id: str
    task: str
    # The saved clip of the whole episode.
    video_path: Path
    # The question text, with the accepted keys.
    prompt: str
    # Seconds the source may wait for an answer.
    timeout_s: float


class LabelSource(Protocol):
    """Where answers come from: returns the operator's text, or None if none came in time."""

    def ask(self, request: LabelRequest) -> str | None: ...


class TerminalSource:
    """Asks on a terminal: writes the question, waits on stdin with `select` (POSIX) up to the timeout."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def ask(self, request: LabelRequest) -> str | None:
        try:
            self.stdin.fileno()
        except (AttributeError, OSError, ValueError) as error:
            raise RewardClientError(
                "human: stdin is not a terminal or pipe (no file descriptor to wait on); pass source= "
                "(for example CallableSource) to answer from elsewhere"
            ) from error
        self.stdout.write(request.prompt)
        self.stdout.flush()
        ready, _, _ = select.select([self.stdin], [], [], request.timeout_s)
        if not ready:
            return None
        line = self.stdin.readline()
        if line == "":
            raise RewardClientError("human: the terminal's input is closed (EOF); no operator to ask")
        return line


class CallableSource:
    """Adapts `fn(prompt) -> str` (a list's iterator in tests, a queue in a web server)."""

    def __init__(self, fn: Callable[[str], str | None]) -> None:
        self.fn = fn

    def ask(self, request: LabelRequest) -> str | None:
        return self.fn(request.prompt)


def current_labels(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """episode_id -> the label in force, from labels.jsonl rows in file order: the last row of an
    episode wins, and a row with `score` null (an undo) leaves the episode unlabelled."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        _apply_label(out, row)
    return out


def _apply_label(labels: dict[str, dict[str, Any]], row: Any) -> None:
    episode_id = row.get("episode_id") if isinstance(row, dict) else None
    if not isinstance(episode_id, str):
        return
    if row.get("score") is None:
        labels.pop(episode_id, None)
    else:
        labels[episode_id] = row


class LabelsFileSource:
    """Answers from the labels.jsonl that the dashboard's labelling page appends to.

    Thread-safe (the reward actor waits on several episodes at once) and incremental: each poll
    reads only the bytes appended since the last one, up to the last complete line, so a torn
    line from a writer that crashed is never parsed. Each label row is answered once, so a label
    the client rejects (a 3 in success mode) waits for a newer one instead of looping.
    """

    def __init__(
        self, path: str | os.PathLike, *, poll_s: float = 0.5, settle_s: float = 10.0, mode: str = "score"
    ) -> None:
        self.path = Path(path)
        self.poll_s = float(poll_s)
        self.settle_s = float(settle_s)
        self.mode = mode
        self._lock = threading.Lock()
        self._offset = 0
        self._labels: dict[str, dict[str, Any]] = {}  # the labels in force after `_offset` bytes
        self._answered: dict[str, float] = {}  # episode id -> time of the label row last answered

    def _refresh(self) -> dict[str, dict[str, Any]]:
        """Reads what was appended since the last call; returns the labels in force."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size < self._offset:  # replaced or truncated: read it again from the start
            self._offset, self._labels = 0, {}
        if size > self._offset:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read(size - self._offset)
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                try:
                    _apply_label(self._labels, json.loads(line))
                except json.JSONDecodeError:
                    continue
        return self._labels

    def _answer(self, episode_id: str) -> str | None:
        with self._lock:
            label = self._refresh().get(episode_id)
            if label is None:
                return None
            stamp = float(label.get("time") or 0.0)
            if self._answered.get(episode_id) == stamp or time.time() - stamp < self.settle_s:
                return None
            self._answered[episode_id] = stamp
        score = label["score"]
        if self.mode == "success" and score in (MIN_SCORE, MAX_SCORE):
            return "y" if score == MAX_SCORE else "n"
        return str(score)

    def ask(self, request: LabelRequest) -> str | None:
        deadline = time.monotonic() + request.timeout_s
        while True:
            answer = self._answer(request.episode_id)
            if answer is not None:
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.poll_s, remaining))


class HumanClient(RewardClient):
    """Scores episodes by asking an operator; one at a time (`score_many` never overlaps them)."""

    source = "human"
    max_parallel = 1

    def __init__(self, config: HumanConfig, source: LabelSource | None = None) -> None:
        super().__init__(config.mapping)
        self.config = config
        if config.web and config.labels_file is None:
            raise RewardConfigError(
                "human: web mode reads the labelling page's labels from labels_file (the run's "
                "labels.jsonl), which is not set; pass run_dir= (the training loop does) or labels_file="
            )
        self.web = config.labels_file is not None
        if self.web:
            self.label_source = source or LabelsFileSource(
                config.labels_file, poll_s=config.poll_s, settle_s=config.labels_settle_s, mode=config.mode
            )
            # The page plays the run's own video; no clip is written.
            self.video_dir = Path(config.labels_file).parent / "episodes"
            return
        self.label_source = source or TerminalSource()
        self.video_dir = Path(config.video_dir or tempfile.mkdtemp(prefix="rrl-human-"))
        self.video_dir.mkdir(parents=True, exist_ok=True)

    @classmethod
    def run_settings(cls, run_dir: Path, settings: Mapping[str, Any]) -> dict[str, Any]:
        # Web mode: labels come from the dashboard's labelling page through the run directory.
        return {"labels_file": str(run_dir / "labels.jsonl")} if settings.get("web") else {}

    @property
    def model(self) -> str:
        return f"human-{self.config.mode}"

    def _question(self, episode: Episode, video_path: Path) -> str:
        keys = "1-5" if self.config.mode == "score" else "y = success, n = failure"
        if self.web:
            return (
                f"\nEpisode {episode.episode_id}\nTask: {episode.task}\nVideo: {video_path}\n"
                f"Waiting for a label ({keys}) from the dashboard's labelling page: "
            )
        return (
            f"\nEpisode {episode.episode_id}\nTask: {episode.task}\nVideo: {video_path}\n"
            f"Score the final state ({keys}, or 'skip'): "
        )

    def _read(self, text: str) -> int | None:
        """The score for an answer, or None when the answer is not a valid key."""
        word = text.strip().lower()
        if self.config.mode == "success":
            return SUCCESS_WORDS.get(word)
        return int(word) if word in {str(s) for s in range(MIN_SCORE, MAX_SCORE + 1)} else None

    def score(self, episode: Episode) -> RewardResult:
        start = time.monotonic()
        if self.web:
            video_path, player = self.video_dir / episode.episode_id / "video.mp4", None
        else:
            video_path = self.video_dir / f"{episode.episode_id}.mp4"
            # The whole episode at its own rate: a person judges better from every frame.
            clip = make_clip(episode, VideoSpec(fps=None, max_frames=max(1, len(episode.frames))))
            video_path.write_bytes(clip.mp4)
            player = self._play(video_path)
        question = self._question(episode, video_path)
        request = LabelRequest(
            episode.episode_id, episode.task, video_path, question, float(self.config.answer_timeout_s)
        )
        attempts, answers = 0, []
        try:
            for _ in range(self.config.max_invalid + 1):
                attempts += 1
                answer = self.label_source.ask(request)
                if answer is None:
                    return self._pending(
                        episode, start, attempts, answers, f"no answer within {self.config.answer_timeout_s:g} s"
                    )
                answers.append(answer.strip())
                if answer.strip().lower() in SKIP_WORDS:
                    return self._pending(episode, start, attempts, answers, "skipped by the operator")
                score = self._read(answer)
                if score is not None:
                    return self.result(
                        episode, score, raw_text=answer.strip(), attempts=attempts, latency_s=time.monotonic() - start
                    )
                request = dataclasses.replace(request, prompt=f"{answer.strip()!r} is not a valid key.{question}")
            return self._pending(episode, start, attempts, answers, f"no valid key after {attempts} tries")
        finally:
            if player is not None:
                _stop(player)

    def _pending(self, episode: Episode, start: float, attempts: int, answers: list[str], why: str) -> RewardResult:
        return self.result(
            episode,
            None,
            raw_text="\n".join(answers),
            attempts=attempts,
            error=f"human: episode {episode.episode_id} left pending: {why}",
            latency_s=time.monotonic() - start,
        )

    def _play(self, video_path: Path) -> subprocess.Popen | None:
        if not self.config.player:
            return None
        try:
            return subprocess.Popen(
                [*self.config.player, os.fspath(video_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as error:
            raise RewardClientError(f"human: cannot start the player {self.config.player[0]!r}: {error}") from error


def _stop(process: subprocess.Popen) -> None:
    """Closes the player once the operator has answered."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
