"""`rrl train <config> --help`: every settable key of a config with its current value and comment.

    print(describe_config(get_config("widowx_pick_place_dsrl")))

The comments are the ones written beside each dataclass field, read by simple-parsing (the same
source the configs are documented in, so help and code cannot drift apart). Keys are printed in
the override syntax, `key.path=value`, that `apply_overrides` accepts.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from simple_parsing.docstring import get_attribute_docstring

import reward_clients
from configs.experiment import ExperimentConfig, RewardConfig

__all__ = ["describe_config", "format_value"]


def format_value(value: Any) -> str:
    """A value as it would be typed on the command line (tuples as comma lists, None as none)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return ",".join(format_value(item) for item in value)
    return str(value)


def _field_comment(cls: type, name: str) -> str:
    doc = get_attribute_docstring(cls, name)
    parts = [doc.comment_above, doc.comment_inline, doc.docstring_below]
    return " ".join(" ".join(p.split()) for p in parts if p and p.strip())


def _rows(obj: Any, prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            rows += _rows(value, f"{prefix}{field.name}.")
        elif not (isinstance(obj, RewardConfig) and field.name == "options"):
            rows.append((prefix + field.name, format_value(value), _field_comment(type(obj), field.name)))
    return rows


def _reward_client_rows(reward: RewardConfig) -> list[tuple[str, str, str]]:
    settings_cls = reward_clients.config_class(reward.name)
    current = dataclasses.replace(settings_cls(), **reward.settings) if reward.settings else settings_cls()
    return [(f"reward.{key}", value, comment) for key, value, comment in _rows(current, "")]


def describe_config(config: ExperimentConfig) -> str:
    """A table of `key.path=value  comment` lines, the chosen reward client's settings included."""
    rows = _rows(config, "") + _reward_client_rows(config.reward)
    width = min(max(len(f"{key}={value}") for key, value, _ in rows), 56)
    lines = [
        f"{config.name}: every key with its current value; override any as key.path=value",
        f"(the reward.* keys after reward.retry_pending_after_s are the {config.reward.name!r} "
        "client's settings; reward.name=... switches client)",
        "",
    ]
    for key, value, comment in rows:
        setting = f"{key}={value}"
        lines.append(f"  {setting:<{width}}  {comment}".rstrip() if len(setting) <= width
                     else f"  {setting}\n  {'':<{width}}  {comment}".rstrip())
    return "\n".join(lines)
