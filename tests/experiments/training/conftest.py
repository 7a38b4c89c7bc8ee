"""Fixtures shared by the training tests that run `rrl train` as a process."""

import pytest


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """One runs folder per test module: the debug base policy is pretrained once."""
    return tmp_path_factory.mktemp("runs")
