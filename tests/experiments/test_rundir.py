"""Run directories: runs started together never share a folder, a torn last line is recovered,
damaged episodes are named."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from experiments.rundir import RunDir, fresh_dir


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    # Two `rrl train` of one config started together once wrote into the same folder.
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: fresh_dir(tmp_path / "runs", "widowx_pick_place_dsrl"), range(8)))
    assert len(set(paths)) == 8
    assert all(path.is_dir() and path.name.startswith("widowx_pick_place_dsrl-") for path in paths)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(p.name for p in paths)


# ----- a torn last line (a power cut mid-append) -------------------------------------------------
TORN = b'{"episode_id":"torn","sco'


def _append_row(run: RunDir, file_name: str, episode_id: str) -> None:
    if file_name == "rewards.jsonl":
        run.append_reward({"episode_id": episode_id, "score": 3, "reward": 0.5})
    elif file_name == "labels.jsonl":
        run.append_label(episode_id, 4)
    else:
        run.append_metrics("episode", {"episode_id": episode_id})


def _rows(run: RunDir, file_name: str) -> list[dict]:
    rows = {"rewards.jsonl": run.rewards, "labels.jsonl": run.labels, "metrics.jsonl": run.metrics}[file_name]()
    return [row for row in rows if row.get("kind") != "recovery"]


@pytest.mark.parametrize("file_name", ["rewards.jsonl", "labels.jsonl", "metrics.jsonl"])
def test_an_append_after_a_torn_last_line_quarantines_it_and_loses_no_row(tmp_path, capsys, file_name):
    # The next row used to land on the torn line, and both read back as one unreadable line.
    run = RunDir(tmp_path / "run").create()
    _append_row(run, file_name, "first")
    _append_row(run, file_name, "second")
    with open(run.root / file_name, "ab") as f:
        f.write(TORN)
    _append_row(run, file_name, "after")
    assert [row["episode_id"] for row in _rows(run, file_name)] == ["first", "second", "after"]
    quarantined = list(run.root.glob(f"{file_name}.torn-*"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == TORN
    assert (run.root / file_name).read_bytes().endswith(b"\n")
    assert f"{file_name}: a torn last line" in capsys.readouterr().err
    assert [row["file"] for row in run.metrics("recovery")] == [file_name]
    _append_row(run, file_name, "later")  # said once: nothing more to recover
    assert len(list(run.root.glob(f"{file_name}.torn-*"))) == 1 and len(run.metrics("recovery")) == 1
    assert "torn" not in capsys.readouterr().err


def test_a_complete_row_that_lost_only_its_newline_is_kept(tmp_path):
    run = RunDir(tmp_path / "run").create()
    run.append_label("first", 2)
    with open(run.root / "labels.jsonl", "ab") as f:
        f.write(b'{"episode_id":"whole","score":5,"labeller":"web","time":1.0}')
    run.append_label("after", 3)
    assert [row["episode_id"] for row in run.labels()] == ["first", "whole", "after"]
    assert not list(run.root.glob("labels.jsonl.torn-*"))


def test_opening_a_run_recovers_torn_tails_before_anything_is_appended(tmp_path, capsys):
    run = RunDir(tmp_path / "run").create()
    run.append_reward({"episode_id": "a", "score": 3, "reward": 0.5})
    with open(run.root / "rewards.jsonl", "ab") as f:
        f.write(TORN)
    assert run.recover_torn_tails() == [next(run.root.glob("rewards.jsonl.torn-*"))]
    assert (run.root / "rewards.jsonl").read_bytes().endswith(b"}\n")
    assert "rewards.jsonl: a torn last line" in capsys.readouterr().err
    assert run.recover_torn_tails() == []  # a clean file (or none at all) is left alone


# ----- episodes that cannot be used ----------------------------------------------------------------
def test_broken_episodes_names_each_damaged_episode_and_why(tmp_path):
    run = RunDir(tmp_path / "run").create()
    for name in ("whole", "no_video", "empty_video", "no_arrays", "bad_arrays", "bad_meta", "no_meta"):
        folder = run.episode_path(name)
        folder.mkdir()
        (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
        np.savez_compressed(folder / "episode.npz", actions=np.zeros((3, 7)))
        (folder / "meta.json").write_text(json.dumps({"episode_id": name, "metadata": {"episode_index": 0}}))
    (run.episode_path("no_video") / "video.mp4").unlink()
    (run.episode_path("empty_video") / "video.mp4").write_bytes(b"")
    (run.episode_path("no_arrays") / "episode.npz").unlink()
    (run.episode_path("bad_arrays") / "episode.npz").write_bytes(b"PK\x03\x04 cut short")
    (run.episode_path("bad_meta") / "meta.json").write_text('{"episode_id": "bad_m')
    (run.episode_path("no_meta") / "meta.json").unlink()
    run.episode_path("x.partial-abc123").mkdir()  # a write in progress is not an episode yet
    assert run.broken_episodes() == {
        "no_video": "video.mp4 missing", "empty_video": "video.mp4 is empty",
        "no_arrays": "episode.npz missing", "bad_arrays": "episode.npz is damaged",
        "bad_meta": "meta.json unreadable", "no_meta": "meta.json missing",
    }
