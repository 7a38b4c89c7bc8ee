"""`key=value` words on the command line for a settings dataclass (a reward client's, the relabeller's).

    client_options("roboreward", ["base_url=http://127.0.0.1:8000/v1", "fps=1", "resolution=224,224"])
    -> {"base_url": "http://127.0.0.1:8000/v1", "fps": 1.0, "resolution": (224, 224)}

Values are parsed by the field's type exactly as `rrl train`'s `reward.<setting>=value` overrides
are (configs.overrides.parse_value); an unknown key gets the closest valid one and the list.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

import reward_clients
from configs.overrides import parse_value

__all__ = ["parse_options", "client_options", "split_words"]


def parse_options(settings_cls: type, words: list[str], what: str) -> dict[str, Any]:
    """The settings named by `words` ("key=value"), typed by `settings_cls`'s fields."""
    hints = typing.get_type_hints(settings_cls)
    options: dict[str, Any] = {}
    for word in words:
        key, sep, raw = word.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{what}: option {word!r} must look like key=value (e.g. base_url=http://...)")
        if key not in hints:
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{what}: unknown option {key!r}{hint}; valid options: {', '.join(sorted(hints))}")
        options[key] = parse_value(raw.strip(), hints[key], key)
    return options


def client_options(name: str, words: list[str]) -> dict[str, Any]:
    """Settings for `reward_clients.make(name, **settings)` from `key=value` words."""
    return parse_options(reward_clients.config_class(name), words, f"reward client {name!r}")


def split_words(words: list[str]) -> tuple[list[str], list[str]]:
    """(paths, options): a word whose part before '=' is an identifier is an option."""
    paths, options = [], []
    for word in words:
        key, sep, _ = word.partition("=")
        (options if sep and key.strip().isidentifier() else paths).append(word)
    return paths, options
