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

# The answer keyword: "ANSWER:", "answer :", and Markdown emphasis between the word and the colon
# ("**ANSWER:** 4", "**ANSWER**: 4"), which Gemini often writes.
_KEYWORD_RE = re.compile(r"answer[\s*_]*:", re.IGNORECASE)
# The rest of the answer's line: one integer, first after optional emphasis or brackets ("**4**",
# "<4>"), then anything without another number ("4.", "4 - Near Completion").
_SCORE_RE = re.compile(r"[\s*_`\"'<\[(]*(\d+).*")
# Any number, a sign or decimals included: a second one ("4 or 5", "<1-5>") makes an answer ambiguous.
_NUMBER_RE = re.compile(r"[-+]?\d+(?:[.,]\d+)*")


def build_prompt(task: str) -> str:
    """The exact RoboReward prompt for the task instruction."""
    task = task.strip()
    if not task:
        raise ValueError("reward prompt: the task instruction is empty")
    return ROBOREWARD_PROMPT.format(task=task)


def parse_answer(text: str) -> int:
    """The score after the last `ANSWER:` in `text`: exactly one integer 1-5 (the RL loop's rule).

    After the last keyword (and any blank lines), the line must hold one number, first after
    optional Markdown emphasis or brackets, and it must be a whole 1-5. Raises RewardAnswerError
    (carrying the text) otherwise: nothing is clipped, guessed or defaulted ("ANSWER: <1-5>",
    "ANSWER: 4 or 5", "ANSWER: 3.5" and "ANSWER: 7" are failures, not scores).
    """
    text = text or ""
    keywords = list(_KEYWORD_RE.finditer(text))
    if not keywords:
        raise RewardAnswerError("no 'ANSWER: <1-5>' in the reply", raw_text=text)
    rest = text[keywords[-1].end() :].lstrip()
    line = rest.split("\n", 1)[0].strip()
    match = _SCORE_RE.fullmatch(line)
    numbers = _NUMBER_RE.findall(line)
    if match is None or len(numbers) != 1 or numbers[0] != match.group(1) or not (
        MIN_SCORE <= int(match.group(1)) <= MAX_SCORE
    ):
        raise RewardAnswerError(
            f"the answer 'ANSWER: {line[:80]}' is not exactly one integer {MIN_SCORE}-{MAX_SCORE}", raw_text=text
        )
    return int(match.group(1))
