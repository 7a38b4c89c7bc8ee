"""What the benchmarks share: the local reward servers from the source tree's test fixtures.

Benchmarks run from a source checkout (`make bench`); the vLLM- and Gemini-shaped servers live
with the tests (tests/fixtures/reward_servers.py) and are loaded from there by path, since the
installed package does not ship the tests.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["load_fake_servers"]


def load_fake_servers() -> ModuleType:
    """The module tests/fixtures/reward_servers.py (FakeVLLM, FakeGemini, Reply)."""
    name = "rrl_bench_reward_servers"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "reward_servers.py"
    if not path.is_file():
        raise FileNotFoundError(f"benchmarks need a source checkout with {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
