"""`rrl eval-reward` reads answers exactly as RoboRewardBench's metric in HELM does
(`RoboRewardBenchProgressPredictionMetric` in helm/benchmark/metrics/robo_reward_bench_metrics.py):
the first `answer: <number>` (any case, a whole word), else a number that opens the reply; a
number outside 1-5 or with decimals is scored by its distance; nothing readable is error 4; only
the first reply counts."""

import json

import pytest

from experiments.datasets import eval_reward
from experiments.datasets.roborewardbench import read_answer
from reward_clients.testing import FakeVLLM, Reply
from tests.experiments.datasets.helpers import write_split

# reply, label, the number HELM reads (None: unparseable), its absolute error.
TABLE = [
    ("The drawer is open.\nANSWER: 4", 4, 4.0, 0.0),
    ("answer:3", 5, 3.0, 2.0),
    ("Answer :  5. It is done.", 5, 5.0, 0.0),
    ("ANSWER: 2\nOn reflection the drawer is open. ANSWER: 5", 5, 2.0, 3.0),  # the first answer
    ("ANSWER: 4 or 5", 4, 4.0, 0.0),
    ("ANSWER: 7", 1, 7.0, 6.0),  # out of range: its distance, beyond 4
    ("ANSWER: 0", 2, 0.0, 2.0),
    ("ANSWER: -1", 3, -1.0, 4.0),
    ("ANSWER: 3.5", 3, 3.5, 0.5),  # fractional: its distance
    ("ANSWER: 3.0", 3, 3.0, 0.0),
    ("5. The toy is on the cloth.", 5, 5.0, 0.0),  # a leading bare number
    ("  2", 4, 2.0, 2.0),
    ("2.5 stars", 2, 2.5, 0.5),
    ("**ANSWER:** 4", 4, None, 4.0),  # Markdown-wrapped: not read
    ("ANSWER: **4**", 4, None, 4.0),
    ("**ANSWER**: 4", 4, None, 4.0),
    ("ANSWER: <4>", 4, None, 4.0),
    ("final_answer: 4", 4, None, 4.0),  # "answer" must be a whole word
    ("Answers: 4", 4, None, 4.0),
    ("The score is 4", 4, None, 4.0),
    ("I cannot tell from this video.", 1, None, 4.0),
    ("", 3, None, 4.0),
]


@pytest.mark.parametrize(("text", "label", "number", "error"), TABLE)
def test_answers_are_read_as_helm_reads_them(text, label, number, error):
    assert read_answer(text) == number
    assert (abs(number - label) if number is not None else 4.0) == error


def test_eval_reward_scores_the_first_reply_with_the_benchmarks_errors(tmp_path, capsys):
    names = [f"S{i % 2}/v{i}.mp4" for i in range(len(TABLE))]
    lines = [{"file_name": name, "task": f"task {i}", "reward": label}
             for i, (name, (_, label, _, _)) in enumerate(zip(names, TABLE, strict=True))]
    write_split(tmp_path / "data" / "test", lines, names)
    answers = {f"task {i}": text for i, (text, *_) in enumerate(TABLE)}
    out = tmp_path / "out"
    with FakeVLLM(answers=answers) as server:
        # A transport failure is retried; an unreadable answer is never asked again.
        server.script(Reply(status=503))
        code = eval_reward.main([str(tmp_path / "data"), f"base_url={server.base_url}", "max_retries=2",
                                 "backoff_base_s=0.01", "--concurrency", "1", "--out", str(out)])
        assert len(server.requests) == len(TABLE) + 1
    assert code == 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["abs_error"] for p in predictions] == [error for *_, error in TABLE]
    assert [p["score"] for p in predictions] == [number for _, _, number, _ in TABLE]
    assert [p["status"] for p in predictions] == ["unparseable" if n is None else "scored" for _, _, n, _ in TABLE]
    results = json.loads((out / "results.json").read_text())
    errors = [error for *_, error in TABLE]
    assert results["answer_parsing"] == "helm"
    assert results["micro_mae"] == pytest.approx(sum(errors) / len(errors))
    assert results["mse"] == pytest.approx(sum(e * e for e in errors) / len(errors))
    assert results["accuracy"] == pytest.approx(sum(e == 0 for e in errors) / len(errors))
    # Read numbers outside 1-5 or with decimals are counted apart from the 5x5 confusion.
    assert sum(results["confusion_off_scale"]) == 5
    assert sum(map(sum, results["confusion"])) + sum(results["confusion_off_scale"]) + sum(
        results["confusion_unparseable"]) == len(TABLE)


def test_the_rl_reading_is_a_named_option_that_asks_again(tmp_path, capsys):
    write_split(tmp_path / "data" / "test", [{"file_name": "A/a.mp4", "task": "a", "reward": 4},
                                             {"file_name": "A/b.mp4", "task": "b", "reward": 4}],
                ["A/a.mp4", "A/b.mp4"])
    out = tmp_path / "out"
    with FakeVLLM(answers={"a": "**ANSWER:** 4", "b": "ANSWER: 4 or 5"}) as server:
        code = eval_reward.main([str(tmp_path / "data"), f"base_url={server.base_url}", "max_retries=1",
                                 "backoff_base_s=0.01", "--answer-parsing", "rl", "--out", str(out)])
        assert len(server.requests) == 3  # b's answer is asked twice, then unparseable
    assert code == 0
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [(p["score"], p["abs_error"]) for p in predictions] == [(4, 0.0), (None, 4.0)]
    assert json.loads((out / "results.json").read_text())["answer_parsing"] == "rl"
