"""`key.path=value` overrides on the command line, checked before anything starts.

    config = apply_overrides(get_config("widowx_pick_place_dsrl"),
                             ["reward.name=roboreward", "reward.base_url=http://127.0.0.1:8000/v1",
                              "run.episodes=200", "agent.sac.discount=0.98"])

Values are parsed by the field's type (bool, int, float, str, tuples as comma lists, None as
`none`). `reward.<setting>` for a setting of the chosen reward client goes into
`reward.options`, checked against that client's config class. A bad key gets the list of valid
keys; a bad value the field's own error.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import json
import types
import typing
from typing import Any

import reward_clients
from agents.config import EncoderConfig, config_from_dict
from configs.experiment import EnvConfig, ExperimentConfig, RewardConfig, encoder_for_env

__all__ = ["apply_overrides", "valid_keys", "parse_value", "config_to_dict", "config_from_json"]

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(raw: str, hint: Any, key: str) -> Any:
    """Converts the command-line string `raw` to the type `hint` of field `key`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if raw.lower() in ("none", "null") and len(options) < len(typing.get_args(hint)):
            return None
        return parse_value(raw, options[0], key)
    try:
        if hint is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError("expected true or false")
            return raw.lower() in _TRUE
        if hint in (int, float, str):
            return hint(raw)
        if origin is tuple:
            args = typing.get_args(hint)
            items = [s.strip() for s in raw.split(",") if s.strip()]
            item_type = args[0] if args else str
            return tuple(parse_value(item, item_type, key) for item in items)
        if origin in (dict, collections.abc.Mapping) or hint is dict:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object such as {\"fps\": 2}")
            return value
        if hint is Any:
            return json.loads(raw) if raw[:1] in "[{0123456789-" or raw in ("true", "false") else raw
    except ValueError as error:  # json.JSONDecodeError is a ValueError too
        raise ValueError(f"override {key}={raw!r}: {error}") from None
    raise ValueError(f"override {key}: fields of type {hint} cannot be set from the command line")


def _leaf_keys(cls: type, prefix: str) -> list[str]:
    keys = []
    for field in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[field.name]
        if dataclasses.is_dataclass(hint):
            keys += _leaf_keys(hint, f"{prefix}{field.name}.")
        elif not (cls is RewardConfig and field.name == "options"):
            keys.append(prefix + field.name)
    return keys


def valid_keys(config: ExperimentConfig) -> list[str]:
    """Every settable key, including the chosen reward client's settings."""
    client_keys = [f"reward.{f.name}" for f in dataclasses.fields(reward_clients.config_class(config.reward.name))]
    return sorted(set(_leaf_keys(ExperimentConfig, "")) | set(client_keys))


def _set(data: dict, cls: type, path: list[str], raw: str, key: str, config: ExperimentConfig) -> None:
    """Sets `key` in `data` (a config of class `cls` as a dict); values are checked later, once."""
    hints = typing.get_type_hints(cls)
    name = path[0]
    if cls is RewardConfig and name not in hints and len(path) == 1:
        _set_reward_option(data, name, raw, key)
        return
    if name not in hints or (len(path) > 1) != dataclasses.is_dataclass(hints[name]):
        keys = valid_keys(config)
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ValueError(f"unknown config key {key!r}{hint}; valid keys: {', '.join(keys)}")
    if len(path) == 1:
        data[name] = parse_value(raw, hints[name], key)
    else:
        _set(data[name], hints[name], path[1:], raw, key, config)


def _set_reward_option(reward: dict, name: str, raw: str, key: str) -> None:
    settings_cls = reward_clients.config_class(reward["name"])
    hints = typing.get_type_hints(settings_cls)
    if name not in hints:
        keys = sorted(hints) + [f.name for f in dataclasses.fields(RewardConfig) if f.name != "options"]
        raise ValueError(
            f"unknown config key {key!r}: the {reward['name']!r} reward client has no setting "
            f"{name!r}; valid reward keys: {', '.join(sorted(keys))}"
        )
    reward["options"][name] = parse_value(raw, hints[name], key)


def _check_reward_options(reward: RewardConfig) -> None:
    settings_cls = reward_clients.config_class(reward.name)
    known = {f.name for f in dataclasses.fields(settings_cls)}
    stale = sorted(set(reward.settings) - known)
    if stale:
        raise ValueError(
            f"reward settings {stale} do not belong to the {reward.name!r} client; "
            f"its settings are {sorted(known)}"
        )
    try:
        settings_cls(**reward.settings)
    except ValueError as error:
        raise ValueError(f"reward settings for {reward.name!r}: {error}") from None


def apply_overrides(config: ExperimentConfig, overrides: list[str]) -> ExperimentConfig:
    """Returns `config` with every `key.path=value` applied, then checked once as a whole (so
    `env.backend=real env.real_cameras=front=...` works in either order). The agent's encoder
    follows env.cameras and env.image_size unless an override sets its shape itself."""
    # The reward client is chosen first, so its settings are checked against the right client.
    ordered = sorted(overrides, key=lambda item: not item.startswith("reward.name="))
    data = dataclasses.asdict(config)
    data["reward"]["options"] = dict(config.reward.options)
    applied = []
    for item in ordered:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} must look like key.path=value (e.g. run.episodes=50)")
        key, raw = key.strip(), raw.strip()
        _set(data, ExperimentConfig, key.split("."), raw, key, config)
        applied.append(f"{key}={raw!r}")
    data["reward"]["options"] = tuple(sorted(data["reward"]["options"].items()))
    try:
        # The CNN's own settings (channels, features) may be overridden and the shape still follows.
        derived = ("agent.diffusion.encoder.num_cameras=", "agent.diffusion.encoder.image_shape=")
        if not any(item.startswith(derived) for item in applied):
            diffusion = data["agent"]["diffusion"]
            encoder = encoder_for_env(config_from_dict(EncoderConfig, diffusion["encoder"]),
                                      config_from_dict(EnvConfig, data["env"]))
            diffusion["encoder"] = dataclasses.asdict(encoder)
        result = config_from_dict(ExperimentConfig, data)
    except ValueError as error:
        raise ValueError(f"override {' '.join(applied)}: {error}") from None
    _check_reward_options(result.reward)
    return result


def config_to_dict(config: ExperimentConfig) -> dict[str, Any]:
    """A JSON-able dict of the config (reward options as a mapping)."""
    data = dataclasses.asdict(config)
    data["reward"]["options"] = dict(config.reward.options)
    return data


def config_from_json(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuilds the config that `config_to_dict` wrote (the run directory's config.json)."""
    data = json.loads(json.dumps(data))
    options = data["reward"].get("options", {})
    # JSON has no tuples: settings such as resolution come back as lists.
    data["reward"]["options"] = tuple(
        sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())
    )
    return config_from_dict(ExperimentConfig, data)
