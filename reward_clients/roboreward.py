"""`roboreward`: RoboReward 4B/8B (Qwen3-VL fine-tunes) served by vLLM's OpenAI-compatible server.

    vllm serve teetone/RoboReward-8B --media-io-kwargs '{"video": {"num_frames": -1}}'
    client = reward_clients.make("roboreward", base_url="http://127.0.0.1:8000/v1")

One chat-completions request per episode: a user message whose content is the clip as a
`data:video/mp4;base64,...` video_url part (H.264 yuv420p works on every vLLM version; JPEG-list
videos failed for Qwen3-VL before a 2026 fix) followed by the exact RoboReward prompt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reward_clients.errors import RewardAnswerError, RewardServerError
from reward_clients.media import Clip
from reward_clients.model_client import ModelClient, ModelClientConfig, Reply
from reward_clients.prompt import parse_answer

__all__ = ["RoboRewardConfig", "RoboRewardClient"]

# Body keys the client owns; extra_body may not override them.
_OWN_KEYS = frozenset({"model", "messages", "temperature", "max_tokens"})


@dataclasses.dataclass(frozen=True)
class RoboRewardConfig(ModelClientConfig):
    """Settings of the `roboreward` client (plus those of ModelClientConfig)."""

    # The served model id (`vllm serve <id>`, or its --served-model-name).
    model: str = "teetone/RoboReward-8B"
    # vLLM's OpenAI-compatible root, ending in /v1.
    base_url: str = "http://127.0.0.1:8000/v1"
    # Optional key (vLLM's --api-key); sent as a Bearer token when the variable is set.
    api_key_env: str = "VLLM_API_KEY"
    # Tokens the model may write; the answer is "ANSWER: <n>", so little is needed.
    max_tokens: int = 128
    # Extra top-level request keys, e.g. {"mm_processor_kwargs": {"fps": 2, "do_sample_frames": True}}
    # or, on 2026 vLLM, {"media_io_kwargs": {"video": {"num_frames": -1}}}.
    extra_body: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.max_tokens, int) or not 1 <= self.max_tokens <= 32768:
            raise ValueError(f"RoboRewardConfig: max_tokens must be an int in 1..32768, got {self.max_tokens!r}")
        if not isinstance(self.extra_body, Mapping):
            raise ValueError(f"RoboRewardConfig: extra_body must be a dict of top-level keys, got {self.extra_body!r}")
        clash = sorted(_OWN_KEYS & set(self.extra_body))
        if clash:
            raise ValueError(f"RoboRewardConfig: extra_body may not set {clash}; the client sets {sorted(_OWN_KEYS)}")
        object.__setattr__(self, "extra_body", dict(self.extra_body))


class RoboRewardClient(ModelClient):
    """Scores episodes with RoboReward through vLLM's /chat/completions."""

    source = "roboreward"
    config: RoboRewardConfig

    def build_request(self, clip: Clip, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = {
            "model": self.config.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," + clip.base64()}},
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
            # Greedy decoding: the same episode gets the same score, so caching is sound.
            "temperature": 0,
            "max_tokens": self.config.max_tokens,
            **self.config.extra_body,
        }
        return f"{self.config.base_url}/chat/completions", headers, body

    def read_reply(self, payload: dict[str, Any]) -> Reply:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise RewardServerError(f"{self.source}: the reply has no choices: {str(payload)[:200]}", retryable=True)
        message = choices[0].get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if isinstance(text, list):
            # Some OpenAI-compatible servers return content as a list of parts.
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
        text = text if isinstance(text, str) else ""
        if choices[0].get("finish_reason") == "length":
            try:
                parse_answer(text)
            except RewardAnswerError as error:
                raise RewardAnswerError(
                    f"the reply was cut at max_tokens={self.config.max_tokens} before an answer (raise max_tokens)",
                    raw_text=text,
                ) from error
        usage = payload.get("usage")
        return Reply(text=text, usage=dict(usage) if isinstance(usage, dict) else {})

    def explain(self, status: int, message: str) -> str:
        cfg = self.config
        if status in (401, 403):
            if not self._api_key:
                return (
                    f"The server wants an API key: export {cfg.api_key_env}=<the key vLLM was started with "
                    "(--api-key)>."
                )
            return f"The server refused the key in {cfg.api_key_env}: it must match vLLM's --api-key."
        if status == 404:
            return (
                f"Check base_url (it must end in /v1; now {cfg.base_url}) and that the server serves model "
                f"{cfg.model!r} (GET {cfg.base_url}/models lists the served ids; set model= to one of them)."
            )
        if status == 400:
            return (
                "The server refused the request. If it is about the context length or the encoder cache, "
                "lower max_frames or resolution, or start vLLM with a larger --max-model-len and "
                "--max-num-batched-tokens (see the README)."
            )
        return "Check the vLLM server's log."

    def cache_settings(self) -> dict[str, Any]:
        return {
            "route": "chat/completions",
            "temperature": 0,
            "max_tokens": self.config.max_tokens,
            "extra_body": self.config.extra_body,
        }
