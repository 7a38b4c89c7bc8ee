"""`rrl eval-reward` against a local vLLM-shaped server that answers from a table of known scores."""

import json

import pytest

from experiments.datasets import DatasetRow, Prediction, compute_metrics, eval_reward, read_split
from reward_clients.testing import FakeVLLM, Reply
from tests.experiments.datasets.helpers import make_run, write_split

# file_name, task, label, the server's answer. Subset A: errors 0, 1, 4 (unparseable);
# subset B: errors 0, 3.
TABLE = [
    ("A/a1.mp4", "a one", 5, "The cloth holds the toy. ANSWER: 5"),
    ("A/a2.mp4", "a two", 3, "Close, but the drawer is ajar.\nANSWER: 4"),
    ("A/a3.mp4", "a three", 1, "I cannot tell from this video."),
    ("B/b1.mp4", "b one", 2, "ANSWER: 2"),
    ("B/b2.mp4", "b two", 4, "answer: 1"),
]
ANSWERS = {task: text for _, task, _, text in TABLE}


def table_split(root):
    lines = [{"file_name": f, "task": t, "reward": r, "episode": i} for i, (f, t, r, _) in enumerate(TABLE)]
    return write_split(root / "test", lines, [f for f, *_ in TABLE])


def run(args, capsys=None):
    code = eval_reward.main([str(a) for a in args])
    return code, (capsys.readouterr() if capsys else None)


def test_metrics_equal_hand_computed_values(tmp_path, capsys):
    table_split(tmp_path / "data")
    out = tmp_path / "out"
    with FakeVLLM(answers=ANSWERS, latency_s=0.01) as server:
        code, _ = run([tmp_path / "data", f"base_url={server.base_url}", "max_retries=0", "--out", out], capsys)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["per_subset"]["A"] == {"mae": pytest.approx(5 / 3), "n": 3, "accuracy": pytest.approx(1 / 3),
                                          "mse": pytest.approx(17 / 3)}
    assert results["per_subset"]["B"]["mae"] == pytest.approx(1.5)
    assert results["macro_mae"] == pytest.approx((5 / 3 + 1.5) / 2)
    assert results["micro_mae"] == pytest.approx(8 / 5)
    assert results["accuracy"] == pytest.approx(2 / 5)
    assert results["mse"] == pytest.approx((0 + 1 + 16 + 0 + 9) / 5)
    assert results["parse_failure_rate"] == pytest.approx(1 / 5)
    assert results["n"] == 5 and results["n_failed"] == 0 and results["complete"] is True
    expected = [[0] * 5 for _ in range(5)]
    expected[4][4] = expected[2][3] = expected[1][1] = expected[3][0] = 1
    assert results["confusion"] == expected
    assert results["confusion_unparseable"] == [1, 0, 0, 0, 0]
    assert results["latency_s"]["n"] == 5 and results["latency_s"]["p50"] > 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["file_name"] for p in predictions] == [f for f, *_ in TABLE]
    assert [p["raw_text"] for p in predictions] == [text for *_, text in TABLE]
    assert [p["abs_error"] for p in predictions] == [0.0, 1.0, 4.0, 0.0, 3.0]
    assert "| macro MAE (mean over 2 subsets) | 1.583 |" in (out / "summary.md").read_text()
    for png in ("confusion.png", "per_subset_mae.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_rows_are_reported_with_row_numbers_and_skipped(tmp_path, capsys):
    split = write_split(tmp_path / "data" / "test", [
        {"file_name": "A/ok.mp4", "task": "a one", "reward": 5},
        "{not json",
        {"file_name": "A/seven.mp4", "task": "a one", "reward": 7},
        {"file_name": "A/ok.mp4", "task": "a two", "reward": 3},
        {"file_name": "A/gone.mp4", "task": "a one", "reward": 2},
        {"file_name": "A/broken.mp4", "task": "b one", "reward": 2},
        {"file_name": "A/notask.mp4", "reward": 2},
        "",
        {"file_name": "B/b1.mp4", "task": "b one", "reward": 2},
    ], ["A/ok.mp4", "A/seven.mp4", "B/b1.mp4", "A/notask.mp4"])
    (split / "A" / "broken.mp4").write_bytes(b"not an mp4 at all")
    out = tmp_path / "out"
    with FakeVLLM(answers=ANSWERS) as server:
        code, captured = run([tmp_path / "data", f"base_url={server.base_url}", "--out", out], capsys)
        assert len(server.requests) == 2
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["n"] == 2 and results["rows"] == 8 and results["n_skipped"] == 6
    reasons = {p["row"]: p["reason"] for p in results["skipped"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "not valid JSON" in reasons[2]
    assert "reward 7 is not an integer 1-5" in reasons[3]
    assert "duplicate file_name (first at row 1)" in reasons[4]
    assert "video missing" in reasons[5]
    assert "unreadable video" in reasons[6]
    assert "missing field(s) ['task']" in reasons[7]
    assert "skipping 6 of 8 rows" in captured.err and "row 3 (A/seven.mp4)" in captured.err


def test_an_empty_split_and_a_bad_option_are_refused(tmp_path, capsys):
    write_split(tmp_path / "data" / "test", [])
    code, captured = run([tmp_path / "data", "--out", tmp_path / "out"], capsys)
    assert code == 2 and "no rows (an empty split)" in captured.err
    table_split(tmp_path / "data2")
    code, captured = run([tmp_path / "data2", "base_ur=http://127.0.0.1:1/v1"], capsys)
    assert code == 2 and "did you mean 'base_url'" in captured.err


def test_an_interrupted_evaluation_resumes_without_asking_again(tmp_path, capsys):
    table_split(tmp_path / "data")
    out = tmp_path / "out"
    args = [tmp_path / "data", "max_retries=0", "--concurrency", "1", "--out", out]
    with FakeVLLM(answers=ANSWERS) as server:
        # The fourth request is refused as a misconfiguration would be: the evaluation stops.
        server.script(Reply(), Reply(), Reply(), Reply(status=400, message="scripted refusal"))
        code, captured = run([*args, f"base_url={server.base_url}"], capsys)
        assert code == 2 and "scripted refusal" in captured.err
        assert len(server.requests) == 4
    partial = (out / "predictions.partial.jsonl").read_text().splitlines()
    assert len(partial) == 3  # a1, a2 and the unparseable a3
    with FakeVLLM(answers=ANSWERS) as server:  # a new server on another port
        code, _ = run([*args, f"base_url={server.base_url}"], capsys)
        asked = [server.prompt_of(r.json).rsplit("Task: ", 1)[1] for r in server.requests]
    assert code == 0 and asked == ["b one", "b two"]
    results = json.loads((out / "results.json").read_text())
    assert results["n"] == 5 and results["n_resumed"] == 3 and results["macro_mae"] == pytest.approx(19 / 12)
    assert not (out / "predictions.partial.jsonl").exists()
    # Starting afresh, the client's cache still answers every video: the benchmark scores the
    # first reply, so the unparseable one is kept too.
    with FakeVLLM(answers=ANSWERS) as server:
        code, _ = run([*args, f"base_url={server.base_url}", "--fresh"], capsys)
        assert len(server.requests) == 0
    assert json.loads((out / "results.json").read_text())["n_cached"] == 5
    # Read the RL loop's way, only parsed scores are cached: the unparseable answer is asked again.
    with FakeVLLM(answers=ANSWERS) as server:
        code, _ = run([*args, f"base_url={server.base_url}", "--fresh", "--answer-parsing", "rl"], capsys)
        assert len(server.requests) == 5
        code, _ = run([*args, f"base_url={server.base_url}", "--fresh", "--answer-parsing", "rl"], capsys)
        assert len(server.requests) == 6
    assert json.loads((out / "results.json").read_text())["n_cached"] == 4


def test_a_server_failure_is_left_out_of_the_metrics_and_retried_next_time(tmp_path, capsys):
    table_split(tmp_path / "data")
    out = tmp_path / "out"
    args = [tmp_path / "data", "max_retries=0", "--concurrency", "1", "--out", out]
    with FakeVLLM(answers=ANSWERS) as server:
        server.script(Reply(status=503))
        code, captured = run([*args, f"base_url={server.base_url}"], capsys)
        assert code == 1 and "1 videos got no answer" in captured.err
        results = json.loads((out / "results.json").read_text())
        assert results["n"] == 4 and results["n_failed"] == 1 and results["complete"] is False
        assert results["per_subset"]["A"]["n"] == 2
        code, _ = run([*args, f"base_url={server.base_url}"], capsys)
        assert code == 0 and len(server.requests) == 6
    assert json.loads((out / "results.json").read_text())["macro_mae"] == pytest.approx(19 / 12)


def test_a_run_directory_is_scored_against_its_human_labels_then_the_oracle(tmp_path, capsys):
    run_dir = make_run(tmp_path / "run", [
        {"episode_id": "ep-a", "task": "a one", "oracle_score": 5},
        {"episode_id": "ep-b", "task": "b one", "oracle_score": 4},
        {"episode_id": "ep-c", "task": "b two", "oracle_score": None},
    ])
    run_dir.append_label("ep-b", 2, labeller="ana")
    out = tmp_path / "out"
    with FakeVLLM(answers=ANSWERS) as server:
        code, _ = run([run_dir.root, f"base_url={server.base_url}", "--out", out], capsys)
    assert code == 0
    predictions = {p["file_name"]: p for p in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())}
    assert {f: (p["label"], p["score"]) for f, p in predictions.items()} == {
        "widowx_pick_place/ep-a.mp4": (5, 5),
        "widowx_pick_place/ep-b.mp4": (2, 2),  # the human label wins over the oracle's 4
    }
    results = json.loads((out / "results.json").read_text())
    assert results["n_skipped"] == 1 and "no label from human/oracle" in results["skipped"][0]["reason"]


def test_results_are_compared_side_by_side_in_one_table(tmp_path, capsys):
    def results_for(scores):
        rows = [DatasetRow(f, t, r, row=i) for i, (f, t, r, _) in enumerate(TABLE, 1)]
        predictions = [
            Prediction(row=r.row, file_name=r.file_name, subset=r.subset, task=r.task, label=r.reward,
                       status="scored" if s else "unparseable", score=s)
            for r, s in zip(rows, scores, strict=True)
        ]
        return compute_metrics(predictions)

    for name, scores in (("good", [5, 3, 1, 2, 4]), ("bad", [1, 1, None, 5, 1])):
        folder = tmp_path / name
        eval_reward.write_outputs({**results_for(scores), "name": f"roboreward:{name}", "dataset": "d"}, folder)
    code, captured = run(["--compare", tmp_path / "good", tmp_path / "bad" / "results.json",
                          "--out", tmp_path / "cmp"], capsys)
    assert code == 0
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert table.splitlines()[0] == "| metric | roboreward:good | roboreward:bad |"
    assert "| macro MAE | **0.000** | 3.167 |" in table  # bad: A (4+2+4)/3, B (3+3)/2
    assert "| MAE B | **0.000** | 3.000 |" in table
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    assert table in captured.out


def test_read_split_keeps_extra_fields(tmp_path):
    split = table_split(tmp_path / "data")
    rows, problems = read_split(split)
    assert not problems and [r.subset for r in rows] == ["A", "A", "A", "B", "B"]
    assert rows[1].extra == {"episode": 1} and rows[1].row == 2
    assert rows[1].to_json() == {"file_name": "A/a2.mp4", "task": "a two", "reward": 3, "episode": 1}
    with pytest.raises(ValueError, match="reward 0 is not an integer 1-5"):
        DatasetRow("A/x.mp4", "t", 0)
    with pytest.raises(ValueError, match="may not leave the split folder"):
        DatasetRow("../x.mp4", "t", 3)
