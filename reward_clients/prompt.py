"""The RoboReward prompt and the answer parser.

The prompt is the model's interface: RoboReward 4B/8B were fine-tuned on exactly this text, so it
is sent verbatim (shared/DESIGN.md section 1), to Gemini Robotics-ER as well, so the two are
compared on the same question.

    prompt = build_prompt("open the drawer")
    score = parse_answer("The drawer is fully open. ANSWER: 5")   # -> 5
"""

from __future__ import annotations

import re

from reward_clients.errors import RewardAnswerError

__all__ = ["ROBOREWARD_PROMPT", "build_prompt", "parse_answer", "MIN_SCORE", "MAX_SCORE"]

MIN_SCORE = 1
MAX_SCORE = 5

ROBOREWARD_PROMPT = (
    "Given the task, assign a discrete progress score reward (1,2,3,4,5) for the robot in the video "
    "in the format: ANSWER: <score>\n"
    "Rubric for end-of-episode progress (judge only the final state without time limits):\n"
    "1 - No Success: Final state shows no goal-relevant change for the command.\n"
    "2 - Minimal Progress: Final state shows a small but insufficient change toward the goal.\n"
    "3 - Partial Completion: The final state shows good progress toward the goal but violates more "
    "than one requirement or a major requirement.\n"
    "4 - Near Completion: Final state is correct in region and intent but misses a single minor "
    "requirement.\n"
    "5 - Perfect Completion: Final state satisfies all requirements.\n"
    "Task: {task}"
)

# "ANSWER: 4", "answer:3", "Answer : 5". Markdown emphasis around the keyword or the number
# ("**ANSWER:** 4", "ANSWER: **4**") is allowed because Gemini often formats its answer that way;
# HELM's regex (answer\s*:\s*number) would miss those and count them as errors. The number is read
# in full (including a sign or a fraction) so that "ANSWER: 10", "-1" or "3.5" are rejected as out
# of range instead of being read as 1 or 3.
_ANSWER_RE = re.compile(r"answer[\s*_]*:[\s*_`\"'<\[]*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


def build_prompt(task: str) -> str:
    """The exact RoboReward prompt for the task instruction."""
    task = task.strip()
    if not task:
        raise ValueError("reward prompt: the task instruction is empty")
    return ROBOREWARD_PROMPT.format(task=task)


def parse_answer(text: str) -> int:
    """The score of the last `ANSWER: <n>` in `text`, an int in 1-5.

    Raises RewardAnswerError (carrying the text) when there is no answer or the last answer is not
    an integer in 1-5. Nothing is clipped or defaulted: a wrong answer is a failure, not a score.
    """
    matches = _ANSWER_RE.findall(text or "")
    if not matches:
        raise RewardAnswerError("no 'ANSWER: <1-5>' in the reply", raw_text=text or "")
    answer = matches[-1]
    try:
        score = int(answer)
    except ValueError:
        score = None
    if score is None or not MIN_SCORE <= score <= MAX_SCORE:
        raise RewardAnswerError(
            f"the answer 'ANSWER: {answer}' is not an integer in {MIN_SCORE}-{MAX_SCORE}",
            raw_text=text,
        )
    return score
