"""An episode's meta.json as the dashboard reads it: checked where it is read, so one damaged
file marks its own episode and never breaks a page.

    meta = read_episode_meta(run.episode_path(eid) / "meta.json")   # an EpisodeMeta
    # or MetaUnreadable("meta.json unreadable: 'fps' must be a positive number, got 'fast'")

Only the fields the pages use are checked; `Episode.save` writes more, which is left alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EpisodeMeta", "MetaUnreadable", "read_episode_meta", "MAX_META_BYTES"]

# A meta.json this large is not one the run wrote (an hour at 50 Hz is a few MB); not read.
MAX_META_BYTES = 64 * 1024 * 1024


class MetaUnreadable(Exception):
    """meta.json is missing, not JSON, or has a field the dashboard cannot use; the message
    starts with "meta.json unreadable: " and says which and why."""


@dataclasses.dataclass(frozen=True)
class EpisodeMeta:
    """The fields of meta.json that the dashboard shows, with their types checked."""

    episode_id: str
    task: str
    fps: float
    robot: str = ""
    task_name: str = ""
    oracle_score: int | None = None
    is_success: bool | None = None
    end_reason: str = "time_limit"
    num_frames: int | None = None
    frame_size: tuple[int, ...] | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    # Per-step infos (objects); the safety layer's flags and counts are read from them.
    infos: tuple[dict[str, Any], ...] = ()
    # Set by the env actor: actor index, params version, agent kind, episode index.
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _info(value: Any) -> bool:
    return isinstance(value, dict) and (value.get("safety_events") is None or _count(value["safety_events"]))


# field -> (check, what it must be); the first three are required, as Episode requires them.
REQUIRED = ("episode_id", "task", "fps")
CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "episode_id": (lambda v: isinstance(v, str), "a string"),
    "task": (lambda v: isinstance(v, str), "a string"),
    "fps": (lambda v: _number(v) and v > 0, "a positive number"),
    "robot": (lambda v: isinstance(v, str), "a string"),
    "task_name": (lambda v: isinstance(v, str), "a string"),
    "oracle_score": (lambda v: v is None or (_count(v) and 1 <= v <= 5), "an integer 1-5 or null"),
    "is_success": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "end_reason": (lambda v: isinstance(v, str), "a string"),
    "num_frames": (lambda v: v is None or _count(v), "an integer >= 0 or null"),
    "frame_size": (lambda v: v is None or (isinstance(v, list) and all(_count(x) for x in v)),
                   "a list of sizes or null"),
    "started_at": (_number, "a number"),
    "ended_at": (_number, "a number"),
    "infos": (lambda v: isinstance(v, list) and all(_info(i) for i in v),
              "a list of objects, each with 'safety_events' an integer >= 0 when present"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
}


def read_episode_meta(path: Path) -> EpisodeMeta:
    """The checked meta.json at `path`; MetaUnreadable when it cannot be used.

    The dashboard names an episode by its folder; the `episode_id` inside is only checked to be
    there, since Episode.load needs it."""
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise MetaUnreadable(f"meta.json unreadable: larger than {MAX_META_BYTES // 2**20} MiB")
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as error:
        raise MetaUnreadable(f"meta.json unreadable: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise MetaUnreadable("meta.json unreadable: not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise MetaUnreadable(f"meta.json unreadable: not JSON ({error})") from None
    except RecursionError:
        raise MetaUnreadable("meta.json unreadable: nested too deeply") from None
    if not isinstance(raw, dict):
        raise MetaUnreadable(f"meta.json unreadable: expected a JSON object, got {type(raw).__name__}")
    missing = [name for name in REQUIRED if name not in raw]
    if missing:
        raise MetaUnreadable(f"meta.json unreadable: no {', '.join(repr(m) for m in missing)}")
    for name, (check, allowed) in CHECKS.items():
        if name in raw and not check(raw[name]):
            raise MetaUnreadable(f"meta.json unreadable: {name!r} must be {allowed}, got {_short(raw[name])}")
    fields = {name: raw[name] for name in CHECKS if name in raw}
    if "frame_size" in fields and fields["frame_size"] is not None:
        fields["frame_size"] = tuple(fields["frame_size"])
    if "infos" in fields:
        fields["infos"] = tuple(fields["infos"])
    return EpisodeMeta(**fields)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
