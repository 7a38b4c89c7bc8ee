"""Resuming a run: broken episodes stay out, indices only grow, episodes stored after the driver
died are accounted for, and overrides given with --resume are parsed, checked and take effect.

The run directories are built by hand; TrainingRun's resume bookkeeping needs no Ray.
"""

import json
import shutil

import numpy as np
import pytest

import experiments.training.train as train_command
from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from envs.episode import Episode
from experiments.rundir import RunDir
from experiments.training.loop import TrainingRun
from experiments.training.report import write_report


@pytest.fixture
def config():
    return get_config("debug")


def new_run(config, tmp_path) -> RunDir:
    run = RunDir(tmp_path / "run").create()
    run.write_config(config_to_dict(config))
    return run


def store_episode(run: RunDir, index: int, *, with_row: bool = True, success: bool = False) -> str:
    """Stores episode number `index` as an env actor does; `with_row` also writes its metrics row."""
    episode = Episode(
        episode_id=f"ep{index:02d}", task="open the drawer", frames=np.zeros((2, 16, 16, 3), np.uint8),
        fps=5.0, actions=np.zeros((3, 7)), proprio=np.zeros((4, 2)), states=np.zeros((4, 2)),
        infos=[{}] * 3, oracle_score=5 if success else 1, is_success=success, seed=index,
        end_reason="success" if success else "time_limit", started_at=100.0, ended_at=101.5,
        metadata={"actor": 1, "params_version": 2, "agent_kind": "dsrl", "episode_index": index},
    )
    episode.save(run.episode_path(episode.episode_id))
    if with_row:
        run.append_metrics("episode", {
            "episode_id": episode.episode_id, "actor": 1, "episode_index": index, "oracle_score": 1,
            "is_success": success, "steps": 3, "params_version": 2, "seed": index,
            "end_reason": episode.end_reason, "duration_s": 1.5,
        })
    return episode.episode_id


def score(run: RunDir, episode_id: str, value: int = 3) -> None:
    run.append_reward({"episode_id": episode_id, "source": "oracle", "score": value, "reward": 0.5})


def test_resume_keeps_broken_episodes_out_of_the_buffer_the_reward_queue_and_the_counts(config, tmp_path, capsys):
    run = new_run(config, tmp_path)
    ids = [store_episode(run, index, success=True) for index in range(4)]
    score(run, ids[0])
    score(run, ids[1])
    (run.episode_path(ids[1]) / "video.mp4").unlink()  # scored, then its video went missing
    (run.episode_path(ids[2]) / "episode.npz").unlink()  # unscored, its arrays went missing
    training = TrainingRun(config, run)
    assert training.broken == {ids[1]: "video.mp4 missing", ids[2]: "episode.npz missing"}
    assert training.rebuild == [ids[0]]  # the learner is handed only what it can load
    assert [eid for _, eid in training.pending] == [ids[3]]  # never retried forever
    assert sorted(training.scored) == [ids[0]]
    assert training._collected() == 2  # two more are collected to reach run.episodes
    assert training.next_episode_index == 4
    err = capsys.readouterr().err
    assert f"episode {ids[1]} cannot be used (video.mp4 missing)" in err
    assert f"episode {ids[2]} cannot be used (episode.npz missing)" in err
    summary = write_report(run)  # the report's counts and success rates leave them out too
    assert summary["episodes_collected"] == 2 and summary["episodes_scored"] == 1


def test_indices_only_grow_when_an_episode_folder_is_deleted(config, tmp_path):
    # The next episode used to take the deleted one's index, and with it its scene seed.
    run = new_run(config, tmp_path)
    ids = [store_episode(run, index) for index in range(3)]
    shutil.rmtree(run.episode_path(ids[2]))
    training = TrainingRun(config, run)
    assert training.next_episode_index == 3
    assert training._collected() == 2


def test_an_episode_stored_after_the_driver_died_gets_its_metrics_row_on_resume(config, tmp_path):
    run = new_run(config, tmp_path)
    store_episode(run, 0)
    store_episode(run, 1)
    late = store_episode(run, 2, with_row=False, success=True)  # finished in flight, no driver to log it
    TrainingRun(config, run)
    rows = run.metrics("episode")
    assert [row["episode_index"] for row in rows] == [0, 1, 2]
    assert rows[-1] == {**rows[-1], "episode_id": late, "actor": 1, "params_version": 2, "seed": 2, "steps": 3,
                        "oracle_score": 5, "is_success": True, "end_reason": "success", "duration_s": 1.5,
                        "recovered": True}
    training = TrainingRun(config, run)  # accounted for once
    assert len(run.metrics("episode")) == 3
    assert training.next_episode_index == 3 and training._collected() == 3


def test_opening_a_run_recovers_a_torn_tail(config, tmp_path):
    run = new_run(config, tmp_path)
    score(run, store_episode(run, 0))
    with open(run.root / "rewards.jsonl", "ab") as f:
        f.write(b'{"episode_id":"ep0')
    TrainingRun(config, run)
    assert (run.root / "rewards.jsonl").read_bytes().endswith(b"}\n")
    assert list(run.root.glob("rewards.jsonl.torn-*"))


# ----- rrl train --resume DIR overrides ----------------------------------------------------------
@pytest.fixture
def started(monkeypatch):
    """Calls of train(config, run) made by `rrl train`, captured instead of run."""
    calls = []

    def fake_train(config, run, **_):
        calls.append(config)
        return run

    monkeypatch.setattr(train_command, "train", fake_train)
    return calls


def test_every_word_after_resume_is_an_override_checked_like_any_other(config, tmp_path, started, capsys):
    run = new_run(config, tmp_path)
    before = run.read_config()
    # The first override used to be taken for a config name and dropped.
    assert train_command.main(["--resume", str(run.root), "run.episodes=-5"]) == 2
    assert "episodes must be >= 1" in capsys.readouterr().err
    assert train_command.main(["--resume", str(run.root), "debug"]) == 2
    assert "key.path=value" in capsys.readouterr().err
    assert not started and run.read_config() == before
    assert train_command.main(["--resume", str(run.root), "run.episodes=9", "run.max_learner_lag=3"]) == 0
    assert started[-1].run.episodes == 9 and started[-1].run.max_learner_lag == 3
    assert run.read_config()["run"]["episodes"] == 9


def test_a_new_reward_server_url_given_on_resume_takes_effect(config, tmp_path, started):
    old = apply_overrides(config, ["reward.name=roboreward", "reward.base_url=http://127.0.0.1:8000/v1"])
    run = new_run(old, tmp_path)
    assert train_command.main(["--resume", str(run.root), "reward.base_url=http://127.0.0.1:8011/v1"]) == 0
    assert started[-1].reward.settings["base_url"] == "http://127.0.0.1:8011/v1"
    assert run.read_config()["reward"]["options"]["base_url"] == "http://127.0.0.1:8011/v1"


def test_resume_refuses_changes_that_would_mix_two_experiments(config, tmp_path, started, capsys):
    run = new_run(config, tmp_path)
    before = run.read_config()
    code = train_command.main(["--resume", str(run.root), "env.task=pick_place", "agent_kind=sac", "run.episodes=9"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot change agent_kind, env.task when resuming" in err
    assert not started and run.read_config() == before


def test_an_existing_run_directory_is_never_overwritten(config, tmp_path, started, capsys):
    run = new_run(config, tmp_path)
    before = (run.root / "config.json").read_text()
    assert train_command.main(["debug", "run.episodes=3", "--run-dir", str(run.root)]) == 2
    assert f"rrl train --resume {run.root}" in capsys.readouterr().err
    assert not started and (run.root / "config.json").read_text() == before
    fresh = tmp_path / "fresh"
    assert train_command.main(["debug", "--run-dir", str(fresh), "run.episodes=3"]) == 0
    assert started[-1].run.episodes == 3 and json.loads((fresh / "config.json").read_text())["run"]["episodes"] == 3
