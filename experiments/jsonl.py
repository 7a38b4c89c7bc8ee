"""Append-only JSONL files that survive a crash mid-write (rewards.jsonl, labels.jsonl, metrics.jsonl).

    quarantine = append_row(path, {"episode_id": ..., "score": 3})   # None unless a tail was torn
    rows = list(read_rows(path))

An append is one `write` of one line to a file opened with O_APPEND, then fsync, under an
exclusive lock on `.<file>.lock` beside it, so several writers (the run, the labelling page) never
interleave and a crash loses at most the line being written. (The lock is a separate file so a
caller may hold its own lock on the data file while it appends, as the labelling page does.) That torn last line is recovered before the next append: its
bytes move to `<file>.torn-<time>` beside it and the file is cut back to its last complete line,
so no row ever lands on a torn one. Readers skip a line they cannot read.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from envs.episode import to_jsonable

__all__ = ["append_row", "recover_tail", "read_rows"]

_CHUNK = 65536  # bytes read at a time when looking backwards for the last newline


def append_row(path: Path, row: dict[str, Any]) -> Path | None:
    """Appends `row` as one line after recovering a torn last line; returns the quarantine file
    when there was one."""
    return _locked(path, (json.dumps(to_jsonable(row), separators=(",", ":")) + "\n").encode())


def recover_tail(path: Path) -> Path | None:
    """Recovers a torn last line of `path` (a missing file is left alone); returns the quarantine
    file when there was one."""
    return _locked(path, None) if path.exists() else None


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:  # a torn line may be any bytes
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash mid-write


def _locked(path: Path, line: bytes | None) -> Path | None:
    lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # no other writer appends while the tail is checked
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            quarantine = _recover_torn_tail(fd, path)
            if line is not None:
                os.write(fd, line)
                os.fsync(fd)
            return quarantine
        finally:
            os.close(fd)
    finally:
        os.close(lock)  # releases the lock


def _recover_torn_tail(fd: int, path: Path) -> Path | None:
    """Cuts the locked file `fd` back to its last complete line; the bytes after it go to
    `<path>.torn-<time>`, unless they are a whole row that lost only its newline."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return None
    keep = 0
    for start in range((size - 1) // _CHUNK * _CHUNK, -1, -_CHUNK):
        newline = os.pread(fd, min(_CHUNK, size - start), start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
    torn = os.pread(fd, size - keep, keep)
    try:
        whole = isinstance(json.loads(torn), dict)
    except ValueError:  # undecodable bytes too
        whole = False
    if whole:
        os.write(fd, b"\n")
        os.fsync(fd)
        return None
    quarantine = _quarantine_path(path)
    quarantine.write_bytes(torn)
    with open(quarantine, "rb") as f:
        os.fsync(f.fileno())  # the torn bytes are kept before the file is cut
    os.ftruncate(fd, keep)
    os.fsync(fd)
    return quarantine


def _quarantine_path(path: Path) -> Path:
    """`<path>.torn-<time>`, with -2, -3, ... added if an earlier recovery that second took it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, attempt = path.with_name(f"{path.name}.torn-{stamp}"), 1
    while candidate.exists():
        attempt += 1
        candidate = path.with_name(f"{path.name}.torn-{stamp}-{attempt}")
    return candidate
