"""Counterfactual relabelling: new instructions under which a successful episode earns 1-4.

RoboReward's second negative-augmentation recipe. For a video that completes its task (score 5),
a language model behind an OpenAI-compatible chat route (vLLM, or any such service; its base_url,
timeouts and retries are the reward clients' TransportConfig, so they behave as for `roboreward`) proposes one instruction per score 1-4 that the *same* final state
would earn; a second call per proposal asks the model to score the proposal against the rubric,
and only proposals whose check gives the intended score are kept.

    relabeller = Relabeller(CounterfactualConfig(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B"))
    outcome = relabeller.relabel("put the toy on the cloth")
    kept = [p for p in outcome.proposals if p.kept]
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reward_clients import (
    RewardAnswerError,
    RewardServerError,
    RewardUnreachableError,
    parse_answer,
)
from reward_clients.prompt import ROBOREWARD_PROMPT
from reward_clients.transport import (
    RETRYABLE_STATUS,
    TransportConfig,
    call_with_retries,
    error_message,
    parse_retry_after,
)

__all__ = ["CounterfactualConfig", "Proposal", "RelabelOutcome", "Relabeller", "parse_proposals"]

# The rubric lines of the RoboReward prompt (between its first line and "Task:").
RUBRIC = "\n".join(ROBOREWARD_PROMPT.splitlines()[1:-1])
PROPOSE_PROMPT = (
    "You write training data for a robot reward model. It scores a robot video against an instruction:\n"
    "{rubric}\n"
    "A robot was given the instruction below and the video shows it completing it fully (score 5).\n"
    "For each score 1, 2, 3 and 4, write one different instruction for the same scene such that the same "
    "video's final state would earn exactly that score for the new instruction (e.g. another target place, "
    "another object, an extra requirement). Answer with one JSON object and nothing else, like "
    '{{"1": "...", "2": "...", "3": "...", "4": "..."}}.\n'
    "Task: {task}"
)
CHECK_PROMPT = (
    "A robot was told: \"{original}\". The video shows it completing that instruction fully.\n"
    "Judge the same final state against the new instruction below, with this rubric, in the format: ANSWER: <score>\n"
    "{rubric}\n"
    "Task: {proposal}"
)


@dataclasses.dataclass(frozen=True)
class CounterfactualConfig(TransportConfig):
    """Settings of the counterfactual relabeller (the `--counterfactual key=value` words), plus the
    base_url, timeouts and retries of TransportConfig (retried: 5xx, 429, timeouts)."""

    # The chat model that proposes instructions.
    model: str = "Qwen/Qwen3-8B"
    # The model that checks proposals; "" uses `model`.
    check_model: str = ""
    # OpenAI-compatible root, ending in /v1.
    base_url: str = "http://127.0.0.1:8000/v1"
    # Environment variable holding the API key (sent as a Bearer token when set).
    api_key_env: str = "VLLM_API_KEY"
    # Tokens per answer (the proposals are a short JSON object).
    max_tokens: int = 512
    # Sampling temperature of the proposals (checks are greedy).
    temperature: float = 0.7
    # Episodes relabelled at once.
    max_concurrency: int = 4
    # Extra top-level request keys, e.g. {"chat_template_kwargs": {"enable_thinking": false}}.
    extra_body: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"CounterfactualConfig: model must be a model id, got {self.model!r}")
        super().__post_init__()
        if not isinstance(self.max_tokens, int) or not 16 <= self.max_tokens <= 32768:
            raise ValueError(f"CounterfactualConfig: max_tokens must be an int in 16..32768, got {self.max_tokens!r}")
        if not isinstance(self.temperature, int | float) or not 0 <= self.temperature <= 2:
            raise ValueError(f"CounterfactualConfig: temperature must be in [0, 2], got {self.temperature!r}")
        if not isinstance(self.max_concurrency, int) or self.max_concurrency < 1:
            raise ValueError(f"CounterfactualConfig: max_concurrency must be an int >= 1, got {self.max_concurrency!r}")
        if not isinstance(self.extra_body, Mapping):
            raise ValueError(f"CounterfactualConfig: extra_body must be a JSON object, got {self.extra_body!r}")

    @property
    def checker(self) -> str:
        return self.check_model or self.model


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One proposed instruction and its check."""

    score: int
    task: str
    kept: bool
    check_score: int | None
    check_text: str


@dataclasses.dataclass(frozen=True)
class RelabelOutcome:
    task: str
    proposals: tuple[Proposal, ...]
    # Why there are no proposals (an unreadable or failed proposal answer); None otherwise.
    error: str | None = None


def parse_proposals(text: str, original: str) -> dict[int, str]:
    """{score: instruction} for scores 1-4 from the proposer's answer (a JSON object, possibly in
    a code fence or after reasoning). Blank, repeated or unchanged instructions are dropped."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if match is None:
        raise ValueError(f"no JSON object in the proposals: {text[-200:]!r}")
    data = json.loads(match.group(0))
    if not isinstance(data, dict):
        raise ValueError(f"the proposals are not a JSON object: {match.group(0)[:200]!r}")
    proposals: dict[int, str] = {}
    seen = {original.strip().lower()}
    for score in range(1, 5):
        value = data.get(str(score))
        if isinstance(value, str) and value.strip() and "\n" not in value.strip() and value.strip().lower() not in seen:
            proposals[score] = value.strip()
            seen.add(value.strip().lower())
    return proposals


class Relabeller:
    """Proposes and checks counterfactual instructions through an OpenAI-compatible chat route."""

    def __init__(self, config: CounterfactualConfig, api_key: str | None = None) -> None:
        self.config = config
        self._api_key = api_key if api_key is not None else (os.environ.get(config.api_key_env) or None)
        self._transport = config.open_transport("counterfactual")
        self._rng = random.Random()

    def chat(self, prompt: str, model: str, temperature: float) -> str:
        """The answer text of one user message; retryable failures are retried (the config's
        retry policy), the rest raise RewardServerError."""
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {**self.config.extra_body, "model": model, "messages": [{"role": "user", "content": prompt}],
                "temperature": temperature, "max_tokens": self.config.max_tokens}
        url, data = f"{self.config.base_url}/chat/completions", json.dumps(body).encode()

        def send() -> str:
            status, reply_headers, payload, raw = self._transport.post_json(url, headers, data)
            if 200 <= status < 300 and isinstance(payload, dict):
                choices = payload.get("choices") or [{}]
                content = (choices[0].get("message") or {}).get("content") if isinstance(choices[0], dict) else None
                if isinstance(content, str):
                    return content
            # A 2xx without an answer is a broken reply: asking again may get a whole one.
            retryable = status in RETRYABLE_STATUS or status >= 500 or 200 <= status < 300
            raise RewardServerError(
                f"counterfactual: HTTP {status} from {url}: {error_message(payload, raw)}", status=status,
                retryable=retryable, retry_after_s=parse_retry_after(reply_headers.get("Retry-After")),
            )

        secrets = [self._api_key] if self._api_key else []
        return call_with_retries(self.config, send, service="counterfactual", what=f"chat request to {model}",
                                 rng=self._rng, secrets=secrets)

    def relabel(self, task: str) -> RelabelOutcome:
        """Proposals for a task whose video scores 5, each checked by a second call."""
        prompt = PROPOSE_PROMPT.format(rubric=RUBRIC, task=task)
        try:
            proposed = parse_proposals(self.chat(prompt, self.config.model, self.config.temperature), task)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            return RelabelOutcome(task, (), f"unreadable proposals: {error}")
        checked = []
        for score, instruction in sorted(proposed.items()):
            text = self.chat(CHECK_PROMPT.format(original=task, rubric=RUBRIC, proposal=instruction),
                             self.config.checker, 0.0)
            try:
                check = parse_answer(text)
            except RewardAnswerError:
                check = None
            checked.append(Proposal(score, instruction, check == score, check, text))
        return RelabelOutcome(task, tuple(checked))

    def relabel_many(self, tasks: Sequence[str]) -> list[RelabelOutcome]:
        """`relabel` for each task, `max_concurrency` at a time; results in input order. A server
        that is down fails the task's outcome, not the whole batch, until it has been
        unreachable for unreachable_grace_s."""
        def one(task: str) -> RelabelOutcome:
            try:
                return self.relabel(task)
            except RewardServerError as error:
                if not error.retryable and (error.status is not None or isinstance(error, RewardUnreachableError)):
                    raise  # a wrong URL, model or key: stop and say so
                return RelabelOutcome(task, (), str(error))

        with concurrent.futures.ThreadPoolExecutor(max_workers=self.config.max_concurrency,
                                                   thread_name_prefix="counterfactual") as pool:
            return list(pool.map(one, tasks))

    def close(self) -> None:
        self._transport.close()
