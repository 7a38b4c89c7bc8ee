"""The RoboReward dataset layout: `<root>/<split>/metadata.jsonl` beside the mp4 files.

    rows, problems = read_split(find_split("data/roboreward", "test"))
    for problem in problems:
        print(problem)                        # "row 7: reward 6 is not an integer 1-5"
    episode = load_episode(rows[0])           # an envs.Episode the reward clients can score

Each line of metadata.jsonl is `{"file_name": "<subset>/....mp4", "task": str, "reward": 1..5}`
plus any extra fields, which are kept. The subset of a row is the first path component of its
file name (RoboRewardBench's macro MAE averages over subsets with equal weight). Bad rows (not
JSON, a reward outside 1-5, a missing video, a duplicate file name) come back as `RowProblem`s
with their 1-based line numbers; the valid rows are still returned.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from envs.episode import Episode, to_jsonable
from envs.video import decode_mp4

__all__ = ["DatasetRow", "RowProblem", "find_split", "read_split", "load_episode", "SplitWriter", "METADATA"]

METADATA = "metadata.jsonl"
_REQUIRED = ("file_name", "task", "reward")
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclasses.dataclass(frozen=True)
class DatasetRow:
    """One labelled video of a dataset split."""

    # The video's path relative to the split folder, "<subset>/<name>.mp4".
    file_name: str
    # The task instruction the video is judged against.
    task: str
    # The human (or oracle) progress score, an int 1-5.
    reward: int
    # Every other metadata field, kept as read and written back unchanged.
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # 1-based line number in metadata.jsonl (for a run directory: the episode's position); 0 if none.
    row: int = 0
    # Where the video is: an mp4 file, or an episode folder of a run directory. Not written out.
    path: Path | None = None

    def __post_init__(self) -> None:
        name = self.file_name
        if not isinstance(name, str) or not name.strip() or name.startswith("/") or "\\" in name:
            raise ValueError(f"file_name {name!r} must be a relative path such as 'subset/video.mp4'")
        if ".." in Path(name).parts:
            raise ValueError(f"file_name {name!r} may not leave the split folder ('..')")
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"task {self.task!r} must be a non-empty instruction")
        reward = self.reward
        if isinstance(reward, float) and reward.is_integer():
            reward = int(reward)
        if isinstance(reward, bool) or not isinstance(reward, int) or not 1 <= reward <= 5:
            raise ValueError(f"reward {self.reward!r} is not an integer 1-5")
        object.__setattr__(self, "reward", reward)
        clash = sorted(set(_REQUIRED) & set(self.extra))
        if clash:
            raise ValueError(f"extra fields may not repeat {clash}")
        object.__setattr__(self, "extra", dict(self.extra))

    @property
    def subset(self) -> str:
        """The first path component of the file name (RoboRewardBench's subset)."""
        parts = self.file_name.split("/")
        return parts[0] if len(parts) > 1 else "(top level)"

    @property
    def source(self) -> str:
        """Where the row came from ("sim", "run", "clip", "counterfactual"); "" when not recorded."""
        return str(self.extra.get("source", ""))

    @property
    def episode_id(self) -> str:
        """An `envs.Episode` id made from the file name (ids allow only [A-Za-z0-9._-])."""
        stem = self.file_name.removesuffix(".mp4")
        return _UNSAFE_ID.sub("_", stem.replace("/", "__")) or "row"

    def to_json(self) -> dict[str, Any]:
        return to_jsonable({"file_name": self.file_name, "task": self.task, "reward": self.reward, **self.extra})

    @classmethod
    def from_json(cls, data: Any, row: int = 0, split_dir: Path | None = None) -> DatasetRow:
        """Builds a row from one parsed metadata line; raises ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise ValueError(f"missing field(s) {missing}")
        extra = {k: v for k, v in data.items() if k not in _REQUIRED}
        path = split_dir / data["file_name"] if split_dir is not None and isinstance(data["file_name"], str) else None
        return cls(data["file_name"], data["task"], data["reward"], extra=extra, row=row, path=path)


@dataclasses.dataclass(frozen=True)
class RowProblem:
    """A row that was skipped, and why."""

    row: int
    reason: str
    file_name: str | None = None

    def __str__(self) -> str:
        where = f" ({self.file_name})" if self.file_name else ""
        return f"row {self.row}{where}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def find_split(root: str | os.PathLike, split: str | None = None) -> Path:
    """The split folder holding metadata.jsonl: `root` itself, `root/<split>`, or the only split
    (or "test") when `split` is None. Raises FileNotFoundError listing the splits found."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {root} does not exist")
    if split is None and (root / METADATA).is_file():
        return root
    splits = sorted(p.name for p in root.iterdir() if (p / METADATA).is_file())
    if split is None:
        if len(splits) == 1 or "test" in splits:
            split = splits[0] if len(splits) == 1 else "test"
        else:
            raise FileNotFoundError(
                f"dataset {root}: choose a split with --split; found {splits or 'no <split>/metadata.jsonl'}"
            )
    if split not in splits:
        raise FileNotFoundError(f"dataset {root}: no split {split!r} (no {root / split / METADATA}); found {splits}")
    return root / split


def read_split(
    split_dir: str | os.PathLike, *, check_videos: bool = True
) -> tuple[list[DatasetRow], list[RowProblem]]:
    """The valid rows of a split and the problems of the others, in file order."""
    split_dir = Path(split_dir)
    rows: list[DatasetRow] = []
    problems: list[RowProblem] = []
    first_seen: dict[str, int] = {}
    with open(split_dir / METADATA, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(RowProblem(number, f"not valid JSON ({error.msg} at column {error.colno})"))
                continue
            name = data.get("file_name") if isinstance(data, dict) else None
            name = name if isinstance(name, str) else None
            try:
                row = DatasetRow.from_json(data, row=number, split_dir=split_dir)
            except ValueError as error:
                problems.append(RowProblem(number, str(error), name))
                continue
            if row.file_name in first_seen:
                reason = f"duplicate file_name (first at row {first_seen[row.file_name]})"
                problems.append(RowProblem(number, reason, name))
                continue
            first_seen[row.file_name] = number
            if check_videos and not (row.path is not None and row.path.is_file()):
                problems.append(RowProblem(number, f"video missing: {row.path}", name))
                continue
            rows.append(row)
    return rows, problems


def load_episode(row: DatasetRow) -> Episode:
    """The row's video as an Episode to score. Raises ValueError or OSError when it cannot be read."""
    if row.path is None:
        raise ValueError(f"row {row.row}: no video path")
    if row.path.is_dir():  # an episode folder of a run directory
        episode = Episode.load(row.path)
        return dataclasses.replace(episode, task=row.task)
    frames, fps = decode_mp4(row.path)
    if not fps > 0:
        raise ValueError(f"video {row.path} has no frame rate")
    return Episode(episode_id=row.episode_id, task=row.task, frames=frames, fps=fps, metadata={"row": row.row})


class SplitWriter:
    """Writes one split: videos as they come, then metadata.jsonl (atomically) for the rows kept.

    Videos are written at once so a large dataset never sits in memory; `finish` removes the
    videos of rows left out (by balancing), so the folder holds exactly what metadata.jsonl names.
    """

    def __init__(self, split_dir: str | os.PathLike) -> None:
        self.split_dir = Path(split_dir)
        if (self.split_dir / METADATA).exists():
            raise FileExistsError(f"{self.split_dir / METADATA} already exists: choose another --out or --split")
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self.written: set[str] = set()

    def add_video(self, file_name: str, mp4: bytes) -> Path:
        if file_name in self.written:
            raise ValueError(f"dataset writer: file_name {file_name!r} written twice")
        path = self.split_dir / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:6]}.partial")
        partial.write_bytes(mp4)
        os.replace(partial, path)
        self.written.add(file_name)
        return path

    def link_video(self, file_name: str, existing: str) -> Path:
        """Writes `file_name` as the same video as the already written `existing` (a hard link)."""
        source = self.split_dir / existing
        path = self.split_dir / file_name
        try:
            os.link(source, path)
        except OSError:  # a file system without hard links
            return self.add_video(file_name, source.read_bytes())
        self.written.add(file_name)
        return path

    def discard(self) -> None:
        """Removes every video written so far (after a failure: no half-made split is left)."""
        for name in self.written:
            (self.split_dir / name).unlink(missing_ok=True)
        self.written.clear()

    def finish(self, rows: Iterable[DatasetRow]) -> Path:
        rows = list(rows)
        names = [row.file_name for row in rows]
        unknown = sorted(set(names) - self.written)
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"dataset writer: rows name unwritten or repeated videos {unknown[:5]}")
        for name in sorted(self.written - set(names)):
            (self.split_dir / name).unlink()
        partial = self.split_dir / f"{METADATA}.partial"
        partial.write_text("".join(json.dumps(row.to_json()) + "\n" for row in rows), encoding="utf-8")
        os.replace(partial, self.split_dir / METADATA)
        return self.split_dir / METADATA
