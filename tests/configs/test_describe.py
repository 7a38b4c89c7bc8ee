"""`rrl train <config> --help`: every settable key with its current value and its comment."""

from __future__ import annotations

import re

from configs import get_config
from configs.describe import describe_config, format_value
from configs.overrides import apply_overrides, valid_keys
from experiments.training.train import main as train_main


def described_keys(text: str) -> dict[str, str]:
    """key -> the rest of its line, from the help's `  key=value  comment` lines."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^  ([\w.]+)=(.*)$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_every_valid_key_is_listed_once_with_its_value_and_comment():
    config = apply_overrides(get_config("widowx_pick_place_dsrl"), ["reward.name=roboreward"])
    text = describe_config(config)
    rows = described_keys(text)
    assert sorted(rows) == valid_keys(config)
    assert len(re.findall(r"^  run\.episodes=", text, re.M)) == 1
    assert rows["run.episodes"].startswith("200 ") and "episodes to collect" in rows["run.episodes"]
    assert rows["reward.base_url"].startswith("http://127.0.0.1:8000/v1 ")  # the client's own setting


def test_overrides_given_before_help_show_in_the_values(capsys):
    assert train_main(["widowx_pick_place_dsrl", "run.episodes=7", "env.cameras=front,wrist", "--help"]) == 0
    rows = described_keys(capsys.readouterr().out)
    assert rows["run.episodes"].startswith("7 ")
    assert rows["env.cameras"].startswith("front,wrist ")


def test_a_bad_override_with_help_is_refused_like_any_other(capsys):
    assert train_main(["widowx_pick_place_dsrl", "run.episode=7", "--help"]) == 2
    assert "did you mean run.episodes" in capsys.readouterr().err


def test_values_print_in_the_override_syntax():
    assert format_value((128, 96)) == "128,96"
    assert format_value(None) == "none"
    assert format_value(True) == "true"
    config = get_config("widowx_pick_place_dsrl")
    assert apply_overrides(config, [f"env.image_size={format_value((96, 64))}"]).env.image_size == (96, 64)
