"""`rrl make-dataset`: sim datasets labelled by the oracle, clips, counterfactuals, run export, balance."""

import json

import numpy as np
import pytest

import envs
from envs.sim.experts import make_expert
from envs.video import decode_mp4
from experiments.datasets import (
    DatasetRow,
    make_dataset,
    parse_balance,
    read_split,
    run_rows,
    select_balanced,
)
from experiments.rundir import RunDir
from reward_clients.testing import FakeVLLM
from tests.experiments.datasets.helpers import make_run


def replay_score(robot, task, seed, noise, steps=None):
    """The oracle's score after `steps` expert steps (None: the whole episode), simulated afresh."""
    env = envs.make(robot, task, cameras=(), image_size=(32, 32))
    expert = make_expert(env, noise=noise, seed=seed)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    info, step = {}, 0
    while steps is None or step < steps:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        step += 1
        if terminated or truncated:
            break
    env.close()
    return int(info["progress_score"])


@pytest.fixture(scope="module")
def sim_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "data"
    code = make_dataset.main(["--robot", "widowx", "--task", "pick_place", "--episodes", "3", "--noise", "0,1.5",
                              "--size", "32", "--clips", "2", "--out", str(out)])
    assert code == 0
    rows, problems = read_split(out / "train")
    assert not problems
    return out, rows


def test_sim_episodes_are_labelled_by_the_oracle(sim_dataset):
    out, rows = sim_dataset
    episodes = [r for r in rows if r.source == "sim"]
    assert [(r.extra["seed"], r.extra["noise"]) for r in episodes] == [(0, 0.0), (1, 1.5), (2, 0.0)]
    for row in episodes:
        assert row.file_name == f"widowx_pick_place/sim-{row.extra['seed']:06d}.mp4"
        assert row.extra["robot"] == "widowx" and row.extra["labeller"] == "oracle"
        assert row.reward == replay_score("widowx", "pick_place", row.extra["seed"], row.extra["noise"])
        frames, fps = decode_mp4(row.path)
        assert frames.shape[1:] == (32, 32, 3) and fps == pytest.approx(5.0)
    assert {r.reward for r in episodes} >= {5} and min(r.reward for r in episodes) < 5
    summary = json.loads((out / "train.summary.json").read_text())
    assert summary["rows"] == len(rows) and summary["videos_per_min"] > 0


def test_clips_of_successes_carry_the_lower_oracle_score_of_their_last_frame(sim_dataset):
    _, rows = sim_dataset
    by_name = {r.file_name: r for r in rows}
    clips = [r for r in rows if r.source == "clip"]
    assert len(clips) == 4  # two per successful episode
    for clip in clips:
        parent = by_name[clip.extra["clip_of"]]
        assert parent.reward == 5 and clip.reward < 5 and clip.task == parent.task
        # The label is the oracle on the state the clip ends in, simulated again from scratch.
        steps = clip.extra["clip_end_step"]
        assert clip.reward == replay_score("widowx", "pick_place", parent.extra["seed"], parent.extra["noise"], steps)
        frames, _ = decode_mp4(clip.path)
        parent_frames, _ = decode_mp4(parent.path)
        assert len(frames) == clip.extra["clip_end_frame"] + 1 < len(parent_frames)
    # The two clips of an episode have different scores.
    for parent in {c.extra["clip_of"] for c in clips}:
        assert len({c.reward for c in clips if c.extra["clip_of"] == parent}) == 2


def test_counterfactual_relabelling_keeps_only_proposals_that_pass_the_check(tmp_path):
    proposals = json.dumps({"1": "put it in the drawer", "2": "stack it on the cup", "3": "fold the cloth too",
                            "4": "put it on the cloth's left half"})
    answers = {
        "put it in the drawer": "No goal-relevant change. ANSWER: 1",
        "stack it on the cup": "ANSWER: 4",  # disagrees with the proposed 2: dropped
        "fold the cloth too": "ANSWER: 3",
        "put it on the cloth's left half": "hard to say",  # unparseable check: dropped
    }
    out = tmp_path / "data"
    with FakeVLLM(models=("qwen-test",), answers=answers, default_text=f"```json\n{proposals}\n```") as server:
        code = make_dataset.main(["--robot", "widowx", "--task", "pick_place", "--episodes", "1", "--noise", "0",
                                  "--size", "32", "--out", str(out), "--counterfactual", f"base_url={server.base_url}",
                                  "model=qwen-test", "max_retries=0"])
        assert code == 0
        assert len(server.requests) == 5  # one proposal call and one check per proposal
        assert all(isinstance(r.json["messages"][0]["content"], str) for r in server.requests)
        # A model the server does not serve is a configuration error: it stops, leaving no half split.
        code = make_dataset.main(["--robot", "widowx", "--task", "pick_place", "--episodes", "1", "--noise", "0",
                                  "--size", "32", "--out", str(tmp_path / "bad"), "--counterfactual",
                                  f"base_url={server.base_url}", "model=not-served"])
        assert code == 2 and not list((tmp_path / "bad").rglob("*.mp4"))
    rows, problems = read_split(out / "train")
    assert not problems
    original = rows[0]
    assert original.reward == 5
    counterfactual = [r for r in rows if r.source == "counterfactual"]
    assert [(r.task, r.reward) for r in counterfactual] == [("put it in the drawer", 1), ("fold the cloth too", 3)]
    for row in counterfactual:
        assert row.extra["original_task"] == original.task and row.extra["counterfactual_of"] == original.file_name
        assert row.extra["proposer_model"] == row.extra["checker_model"] == "qwen-test"
        assert row.path.read_bytes() == original.path.read_bytes()


def test_a_run_directory_is_exported_with_human_labels_first(tmp_path):
    run = make_run(tmp_path / "run", [
        {"episode_id": "ep-a", "task": "put the toy on the cloth", "oracle_score": 5},
        {"episode_id": "ep-b", "task": "put the toy on the cloth", "oracle_score": 2},
        {"episode_id": "ep-c", "task": "open the drawer"},
        {"episode_id": "ep-d", "task": "open the drawer", "oracle_score": 4},
    ])
    run.append_label("ep-c", 5, labeller="ana")
    run.append_label("ep-d", 1, labeller="ana")
    run.append_label("ep-b", 3, labeller="ana")
    with open(run.root / "labels.jsonl", "a") as f:  # the labelling page's undo of that label
        f.write(json.dumps({"episode_id": "ep-b", "score": None, "undo": True, "labeller": "ana"}) + "\n")
    assert make_dataset.main(["--from-run", str(run.root), "--out", str(tmp_path / "plain")]) == 0
    rows, _ = read_split(tmp_path / "plain" / "train")
    assert {r.extra["episode_id"]: (r.reward, r.extra["labeller"]) for r in rows} == {
        "ep-a": (5, "oracle"), "ep-b": (2, "oracle"), "ep-c": (5, "human:ana"), "ep-d": (1, "human:ana"),
    }
    assert rows[0].path.read_bytes() == (run.episode_path("ep-a") / "video.mp4").read_bytes()

    # Balanced to equal shares of 2 and 5: the one 2 limits it; the videos left out are deleted.
    assert make_dataset.main(["--from-run", str(run.root), "--balance", "2=1,5=1", "--seed", "1",
                              "--out", str(tmp_path / "balanced")]) == 0
    rows, _ = read_split(tmp_path / "balanced" / "train")
    assert sorted(r.reward for r in rows) == [2, 5]
    assert len(list((tmp_path / "balanced" / "train").rglob("*.mp4"))) == 2


def test_real_clips_go_to_the_labelling_queue_or_a_model_never_a_guess(tmp_path, capsys):
    run = make_run(tmp_path / "run", [{"episode_id": "ep-a", "task": "open the drawer", "count": 8}])
    run.append_label("ep-a", 5)
    # No per-step oracle in a real episode: the default oracle labeller clips nothing.
    assert make_dataset.main(["--from-run", str(run.root), "--clips", "2", "--out", str(tmp_path / "none")]) == 0
    assert "no per-step oracle" in capsys.readouterr().out
    assert [r.source for r in read_split(tmp_path / "none" / "train")[0]] == ["run"]

    out = tmp_path / "queued"
    assert make_dataset.main(["--from-run", str(run.root), "--clips", "2", "--clip-labeller", "queue",
                              "--out", str(out)]) == 0
    assert len(read_split(out / "train")[0]) == 1
    queue_rows, problems = run_rows(out / "label_queue", ("human",))
    assert queue_rows == [] and len(problems) == 2  # two clips waiting for a person
    # A person labels one clip on the page; the queue exports like any run.
    clip_id = problems[0].file_name
    queue = RunDir(out / "label_queue")
    queue.append_label(clip_id, 3)
    assert make_dataset.main(["--from-run", str(queue.root), "--labels", "human", "--out", str(tmp_path / "q2")]) == 0
    rows, _ = read_split(tmp_path / "q2" / "train")
    assert [(r.extra["episode_id"], r.reward) for r in rows] == [(clip_id, 3)]

    with FakeVLLM(default_text="ANSWER: 2") as server:
        assert make_dataset.main(["--from-run", str(run.root), "--clips", "2", "--clip-labeller", "roboreward",
                                  "--clip-options", f"base_url={server.base_url}", "--out",
                                  str(tmp_path / "model")]) == 0
    clips = [r for r in read_split(tmp_path / "model" / "train")[0] if r.source == "clip"]
    assert [(r.reward, r.extra["labeller"]) for r in clips] == [(2, "roboreward:teetone/RoboReward-8B")] * 2


def test_balance_selection_matches_hand_counts():
    rows = [DatasetRow(f"s/{i}.mp4", "t", score) for i, score in enumerate([1, 1, 1, 2, 2, 5, 5, 5, 5, 5])]
    target = parse_balance("1=1,2=1,5=2")
    assert target == {1: 0.25, 2: 0.25, 3: 0.0, 4: 0.0, 5: 0.5}
    kept, info = select_balanced(rows, target, np.random.default_rng(0))
    # Score 2 limits: 2 rows at a 25 % share -> 8 rows: two 1s, two 2s, four 5s.
    assert info["limited_by"] == 2 and info["kept"] == {"1": 2, "2": 2, "3": 0, "4": 0, "5": 4}
    assert sorted(r.reward for r in kept) == [1, 1, 2, 2, 5, 5, 5, 5]
    assert kept == sorted(kept, key=lambda r: int(r.file_name[2:-4]))  # original order kept
    assert parse_balance("uniform")[3] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="part '6=1'"):
        parse_balance("1=1,6=1")
    with pytest.raises(ValueError, match=r"no rows with score\(s\) \[3\]"):
        select_balanced(rows, parse_balance("1=1,3=1"), np.random.default_rng(0))


def test_an_existing_split_is_not_overwritten(tmp_path, capsys):
    run = make_run(tmp_path / "run", [{"episode_id": "ep-a", "task": "open the drawer", "oracle_score": 3}])
    args = ["--from-run", str(run.root), "--out", str(tmp_path / "data")]
    assert make_dataset.main(args) == 0
    assert make_dataset.main(args) == 2
    assert "already exists" in capsys.readouterr().err
