"""The RoboReward prompt, the answer parser, the reward mapping and the result record."""

from __future__ import annotations

import pytest

from reward_clients import (
    RewardAnswerError,
    RewardMapping,
    RewardResult,
    build_prompt,
    parse_answer,
)

# Copied from the model card / shared/DESIGN.md: the model was trained on exactly this text.
EXPECTED_PROMPT = """Given the task, assign a discrete progress score reward (1,2,3,4,5) for the robot in the video in the format: ANSWER: <score>
Rubric for end-of-episode progress (judge only the final state without time limits):
1 - No Success: Final state shows no goal-relevant change for the command.
2 - Minimal Progress: Final state shows a small but insufficient change toward the goal.
3 - Partial Completion: The final state shows good progress toward the goal but violates more than one requirement or a major requirement.
4 - Near Completion: Final state is correct in region and intent but misses a single minor requirement.
5 - Perfect Completion: Final state satisfies all requirements.
Task: put the toy on the cloth"""  # noqa: E501


def test_prompt_is_exact():
    assert build_prompt("put the toy on the cloth") == EXPECTED_PROMPT
    assert build_prompt("  put the toy on the cloth\n") == EXPECTED_PROMPT


def test_empty_task_is_refused():
    with pytest.raises(ValueError, match="empty"):
        build_prompt("   ")


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("ANSWER: 4", 4),
        ("answer:3", 3),
        ("Answer :   5", 5),
        ("ANSWER:1", 1),
        ("The arm reached the handle but the drawer stayed shut.\nANSWER: 2", 2),
        ("ANSWER: 2\nWait, looking again at the last frame, it is open. ANSWER: 5", 5),
        ("**ANSWER:** 4", 4),
        ("**ANSWER**: 4", 4),
        ("ANSWER: **3**", 3),
        ("ANSWER: <4>", 4),
        ("ANSWER: 4.", 4),
        ("ANSWER: 4 - Near Completion", 4),
        ("ANSWER:\n2", 2),
        ("ANSWER: 3\nThe rubric asks for a score from 1 to 5.", 3),
    ],
)
def test_parse_valid(text, score):
    assert parse_answer(text) == score


# The RL loop's rule: after the last ANSWER:, exactly one integer 1-5, first on its line. What
# else could be read as a score (the prompt's own "<1-5>", a range, two candidates) is a failure.
@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("ANSWER: <1-5>", "not exactly one integer 1-5"),
        ("ANSWER: [1-5]", "not exactly one integer 1-5"),
        ("ANSWER: 4 or 5", "not exactly one integer 1-5"),
        ("ANSWER: 4/5", "not exactly one integer 1-5"),
        ("ANSWER: 3 out of 5", "not exactly one integer 1-5"),
        ("ANSWER: 7", "not exactly one integer 1-5"),
        ("ANSWER: 0", "not exactly one integer 1-5"),
        ("ANSWER: -1", "not exactly one integer 1-5"),
        ("ANSWER: 10", "not exactly one integer 1-5"),
        ("ANSWER: 3.5", "not exactly one integer 1-5"),
        ("answer: 5.0", "not exactly one integer 1-5"),
        ("ANSWER: four", "not exactly one integer 1-5"),
        ("ANSWER: I would say 4", "not exactly one integer 1-5"),
        ("ANSWER: <score>", "not exactly one integer 1-5"),
        ("ANSWER: 4 then ANSWER: 6", "ANSWER: 6"),
        ("ANSWER: 5\nOn reflection: ANSWER: 4 or 5", "ANSWER: 4 or 5"),
        ("The score is 4", "no 'ANSWER"),
        ("4", "no 'ANSWER"),
        ("", "no 'ANSWER"),
    ],
)
def test_parse_failures_are_errors_with_the_text(text, why):
    with pytest.raises(RewardAnswerError, match=why) as raised:
        parse_answer(text)
    assert raised.value.raw_text == text


def test_mappings():
    progress, success = RewardMapping(), RewardMapping.parse("success")
    assert [progress(s) for s in range(1, 6)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [success(s) for s in range(1, 6)] == [0.0, 0.0, 0.0, 0.0, 1.0]
    table = RewardMapping.parse({"1": -1, 2: 0, 3: 0, 4: 0.5, 5: 1})
    assert [table(s) for s in range(1, 6)] == [-1.0, 0.0, 0.0, 0.5, 1.0]
    assert RewardMapping.parse([0, 0, 0.1, 0.4, 1])(3) == 0.1
    assert progress(None) is None


@pytest.mark.parametrize("spec", ["linear", {1: 0, 2: 1}, [0, 1], {"a": 1}, [0, 0, 0, 0, float("nan")], 3])
def test_bad_mappings(spec):
    with pytest.raises(ValueError, match="reward mapping"):
        RewardMapping.parse(spec)


def test_result_invariants_and_round_trip():
    result = RewardResult("ep-1", "roboreward", "m", score=4, reward=0.75, raw_text="ANSWER: 4", attempts=1)
    assert result.ok and RewardResult.from_dict(result.to_dict()) == result
    with pytest.raises(ValueError, match="must say why"):
        RewardResult("ep-1", "roboreward", "m", score=None, reward=None)
    with pytest.raises(ValueError, match="1-5"):
        RewardResult("ep-1", "roboreward", "m", score=6, reward=1.0)
    with pytest.raises(ValueError, match="exactly when"):
        RewardResult("ep-1", "roboreward", "m", score=None, reward=0.0, error="x")
