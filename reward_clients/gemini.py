"""`gemini_er`: Gemini Robotics-ER through the Gemini REST API (`models/<id>:generateContent`).

    export GEMINI_API_KEY=...
    client = reward_clients.make("gemini_er", model="gemini-robotics-er-1.5-preview")

One user turn: the clip inline (`video/mp4`, base64) with `video_metadata.fps` beside it in the
same part (the Part message carries both fields), then the RoboReward prompt. The key travels in
the `x-goog-api-key` header, never in the URL. Thought parts of the reply are skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reward_clients.errors import RewardAnswerError, RewardServerError, RewardVideoTooLargeError
from reward_clients.media import Clip
from reward_clients.model_client import ModelClient, ModelClientConfig, Reply, require_key
from reward_clients.transport import parse_duration, parse_retry_after

__all__ = ["GeminiConfig", "GeminiClient", "GEMINI_MAX_FPS"]

# video_metadata.fps must lie in (0, 24].
GEMINI_MAX_FPS = 24.0
# Finish reasons that asking again will not change (content policy decisions).
_FINAL_STOPS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


@dataclasses.dataclass(frozen=True)
class GeminiConfig(ModelClientConfig):
    """Settings of the `gemini_er` client (plus those of ModelClientConfig)."""

    # Robotics-ER model id; the paper's baseline was gemini-robotics-er-1.5-preview.
    model: str = "gemini-robotics-er-2-preview"
    # API root without the version; overridable for tests and proxies.
    base_url: str = "https://generativelanguage.googleapis.com"
    # Environment variable holding the key (required).
    api_key_env: str = "GEMINI_API_KEY"
    # Frames per second sampled and declared in video_metadata.fps, in (0, 24].
    fps: float = 2.0
    # Sampling temperature; 0 keeps the judge as repeatable as the service allows.
    temperature: float = 0.0
    # Thinking tokens allowed (0 off, -1 dynamic); None leaves thinkingConfig out (model default).
    thinking_budget: int | None = 1024
    # Output token cap; thinking tokens count toward it, so leave room for the answer.
    max_output_tokens: int = 4096
    # Largest base64 request payload sent inline (the API takes 100 MB since Jan 2026, 20 MB before).
    max_inline_bytes: int = 100_000_000

    def __post_init__(self) -> None:
        if isinstance(self.model, str) and self.model.startswith("models/"):
            object.__setattr__(self, "model", self.model.removeprefix("models/"))
        super().__post_init__()
        if "/" in self.model or ":" in self.model:
            raise ValueError(
                f"GeminiConfig: model must be a bare id like gemini-robotics-er-2-preview, got {self.model!r}"
            )
        if not isinstance(self.fps, int | float) or not 0 < self.fps <= GEMINI_MAX_FPS:
            raise ValueError(
                f"GeminiConfig: fps must be in (0, {GEMINI_MAX_FPS:g}] (video_metadata.fps), got {self.fps!r}"
            )
        if not isinstance(self.temperature, int | float) or not 0 <= self.temperature <= 2:
            raise ValueError(f"GeminiConfig: temperature must be in [0, 2], got {self.temperature!r}")
        if self.thinking_budget is not None and (
            not isinstance(self.thinking_budget, int) or self.thinking_budget < -1
        ):
            raise ValueError(
                f"GeminiConfig: thinking_budget must be an int >= -1 or None, got {self.thinking_budget!r}"
            )
        if not isinstance(self.max_output_tokens, int) or self.max_output_tokens < 1:
            raise ValueError(f"GeminiConfig: max_output_tokens must be an int >= 1, got {self.max_output_tokens!r}")
        if self.thinking_budget and self.thinking_budget > 0 and self.max_output_tokens <= self.thinking_budget:
            raise ValueError(
                f"GeminiConfig: max_output_tokens ({self.max_output_tokens}) must exceed thinking_budget "
                f"({self.thinking_budget}) to leave room for the answer"
            )
        if not isinstance(self.max_inline_bytes, int) or self.max_inline_bytes < 1:
            raise ValueError(f"GeminiConfig: max_inline_bytes must be a positive int, got {self.max_inline_bytes!r}")


class GeminiClient(ModelClient):
    """Scores episodes with Gemini Robotics-ER through generateContent."""

    source = "gemini_er"
    config: GeminiConfig

    def _check_key(self) -> None:
        require_key(self.source, self._api_key, self.config.api_key_env, "a Gemini API key from Google AI Studio")

    def build_request(self, clip: Clip, prompt: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        data = clip.base64()
        if len(data) + len(prompt) > self.config.max_inline_bytes:
            raise RewardVideoTooLargeError(
                f"{self.source}: the clip is {len(data) / 1e6:.1f} MB in base64, over the inline limit of "
                f"{self.config.max_inline_bytes / 1e6:g} MB; lower fps, max_frames or resolution, or raise crf"
            )
        body: dict[str, Any] = {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {
                            "inline_data": {"mime_type": "video/mp4", "data": data},
                            "video_metadata": {"fps": round(min(clip.fps, GEMINI_MAX_FPS), 6)},
                        },
                        {"text": prompt},
                    ],
                }
            ],
            "generationConfig": {
                "temperature": self.config.temperature,
                "maxOutputTokens": self.config.max_output_tokens,
            },
        }
        if self.config.thinking_budget is not None:
            # Inside generationConfig: thinkingConfig at the top level is a 400.
            body["generationConfig"]["thinkingConfig"] = {"thinkingBudget": self.config.thinking_budget}
        headers = {"Content-Type": "application/json", "x-goog-api-key": self._api_key or ""}
        return f"{self.config.base_url}/v1beta/models/{self.config.model}:generateContent", headers, body

    def read_reply(self, payload: dict[str, Any]) -> Reply:
        usage = payload.get("usageMetadata")
        usage = dict(usage) if isinstance(usage, dict) else {}
        candidates = payload.get("candidates")
        if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
            feedback = payload.get("promptFeedback")
            reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
            if reason:
                # The same video and prompt would be blocked again: no retry.
                raise RewardAnswerError(
                    f"Gemini blocked the prompt (promptFeedback.blockReason={reason})", retryable=False
                )
            raise RewardServerError(f"{self.source}: the reply has no candidates: {str(payload)[:200]}", retryable=True)
        candidate = candidates[0]
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        text = "".join(
            part["text"]
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
        )
        finish = candidate.get("finishReason", "STOP")
        if finish != "STOP":
            if finish == "MAX_TOKENS":
                hint = (
                    f"the answer was cut at max_output_tokens={self.config.max_output_tokens} "
                    f"(thinking_budget={self.config.thinking_budget}); raise max_output_tokens or lower "
                    "thinking_budget"
                )
            else:
                hint = f"Gemini stopped with finishReason={finish}"
            raise RewardAnswerError(hint, raw_text=text, retryable=finish not in _FINAL_STOPS)
        return Reply(text=text, usage=usage)

    def explain(self, status: int, message: str) -> str:
        cfg = self.config
        if status == 400 and ("API key" in message or "API_KEY" in message):
            return f"The key in {cfg.api_key_env} is not valid: create one in Google AI Studio and export it."
        if status in (401, 403):
            return (
                f"The key in {cfg.api_key_env} is missing, invalid or not allowed to use {cfg.model!r}: check "
                "the key and that the Generative Language API is enabled for its project."
            )
        if status == 404:
            return (
                f"Model {cfg.model!r} was not found at {cfg.base_url}: check model= (for example "
                "gemini-robotics-er-1.5-preview or gemini-robotics-er-2-preview; 1.6 was shut down in Aug 2026) "
                "and base_url."
            )
        if status == 400:
            return (
                f"The request was refused: check the generation settings (thinking_budget="
                f"{cfg.thinking_budget}, temperature={cfg.temperature}) are supported by {cfg.model!r}."
            )
        return "See the message above."

    def cache_settings(self) -> dict[str, Any]:
        return {
            "route": "generateContent",
            "temperature": self.config.temperature,
            "thinking_budget": self.config.thinking_budget,
            "max_output_tokens": self.config.max_output_tokens,
        }

    def retry_after(self, headers: Mapping[str, str], payload: Any) -> float | None:
        waits = [parse_retry_after(headers.get("Retry-After"))]
        waits += [parse_duration(d.get("retryDelay")) for d in _details(payload) if d.get("@type") == _RETRY_INFO]
        waits = [w for w in waits if w is not None]
        return max(waits) if waits else None

    def is_daily_quota(self, payload: Any) -> bool:
        for detail in _details(payload):
            if detail.get("@type") != _QUOTA_FAILURE:
                continue
            for violation in detail.get("violations") or []:
                if not isinstance(violation, dict):
                    continue
                # e.g. quotaId "GenerateRequestsPerDayPerProjectPerModel-FreeTier".
                names = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}".lower()
                if "perday" in names or "per_day" in names or "daily" in names:
                    return True
        return False


def _details(payload: Any) -> list[dict[str, Any]]:
    error = payload.get("error") if isinstance(payload, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
